"""Damaged and hostile run folders: `runs` lists the others and names each damaged one; `compare`
and `watch` refuse a damaged one in one line (exit 2); every YAML read is bounded; a run's own
long config.yaml still replays (harden issue: "Damaged, hostile and huge run folders")."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest
from support.runsdirs import make_run

from tui_trainer.cli import main
from tui_trainer.config.loader import load_config
from tui_trainer.errors import UserError
from tui_trainer.runlog import Status, read_run

DAMAGES = {
    "config-not-utf8": ("config.yaml", lambda b: b.replace(b"task:", b"\xff\xfe task:", 1)),
    "epochs-two": ("config.yaml", lambda b: re.sub(rb"(?m)^epochs: \d+", b"epochs: two", b)),
    "epoch-x": ("metrics.jsonl", lambda b: b.replace(b'"epoch": 2,', b'"epoch": "x",', 1)),
    "epoch-nan": ("metrics.jsonl", lambda b: b.replace(b'"epoch": 2,', b'"epoch": NaN,', 1)),
    "time-1e400": (
        "metrics.jsonl",
        lambda b: re.sub(rb'"epoch", "time": [0-9.]+', b'"epoch", "time": 1e400', b, count=1),
    ),
    "best-x": ("summary.json", lambda b: re.sub(rb'"best": \{[^}]*\}', b'"best": "x"', b)),
    "summary-not-json": ("summary.json", lambda b: b[: len(b) // 2]),
}
"""Each damage: the file it changes and how (run on a finished 3-epoch run's bytes)."""

LISTED = {"config-not-utf8", "epochs-two", "epoch-x", "epoch-nan", "time-1e400"}
"""Damages a listing does not read over (it reads a few KB of metrics.jsonl and summary.json;
damaged lines are skipped): these runs are listed, the others are skipped and named."""


def damaged_run(root: Path, name: str) -> Path:
    run_dir = make_run(root, "quickstart", name)
    file, change = DAMAGES[name]
    path = run_dir / file
    path.write_bytes(change(path.read_bytes()))
    assert path.read_bytes() != change(b""), name
    return run_dir


@pytest.fixture
def root(tmp_path: Path) -> Path:
    root = tmp_path / "runs"
    make_run(root, "quickstart", "good")
    for name in DAMAGES:
        damaged_run(root, name)
    return root


def test_runs_lists_the_others_and_names_each_damaged_folder(root: Path, capsys) -> None:
    assert main(["runs", str(root), "--json"]) == 0
    out, err = capsys.readouterr()
    assert "Traceback" not in err

    def refuse(constant: str) -> None:
        raise AssertionError(f"not JSON: {constant}")

    rows = {Path(r["run_dir"]).name: r for r in json.loads(out, parse_constant=refuse)}
    assert set(rows) == {"good", *LISTED}
    assert rows["good"]["epoch"] == 3 and rows["good"]["status"] == "completed"
    assert rows["epoch-x"]["epoch"] == 3  # the damaged line is skipped, the last one read
    skipped = err.strip().splitlines()
    assert len(skipped) == len(DAMAGES) - len(LISTED), err
    assert any("best-x/summary.json" in s and "best" in s for s in skipped), err
    assert any("summary-not-json/summary.json" in s and "JSON" in s for s in skipped), err
    assert main(["runs", str(root)]) == 0  # the table too (times, durations)
    table = capsys.readouterr().out
    assert all(name in table for name in LISTED)


@pytest.mark.parametrize("name", sorted(DAMAGES))
def test_compare_refuses_a_damaged_run_in_one_line(root: Path, name: str, capsys) -> None:
    file = DAMAGES[name][0]
    assert (
        main(["compare", str(root / "quickstart" / "good"), str(root / "quickstart" / name)]) == 2
    )
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1 and "Traceback" not in err
    assert f"{name}/{file}" in err, err


@pytest.mark.parametrize("name", ["config-not-utf8", "epochs-two", "best-x", "summary-not-json"])
def test_watch_refuses_a_damaged_run_in_one_line(
    root: Path, name: str, capsys, monkeypatch
) -> None:
    def opened(run_dir: str) -> int:
        raise AssertionError(f"the run screen opened on a damaged run: {run_dir}")

    monkeypatch.setattr("tui_trainer.tui.entry.run_watch", opened)
    assert main(["watch", str(root / "quickstart" / name)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and DAMAGES[name][0] in err, err


@pytest.mark.parametrize("name", ["epoch-x", "epoch-nan", "time-1e400"])
def test_the_tolerant_read_skips_a_damaged_line_and_names_it(root: Path, name: str) -> None:
    record = read_run(root / "quickstart" / name, strict=False)
    assert record.warnings and "metrics.jsonl: line" in record.warnings[0]
    assert record.status is Status.COMPLETED and len(record.epoch_rows) >= 2


def test_an_alias_bomb_in_a_runs_config_is_refused_not_expanded(tmp_path: Path, capsys) -> None:
    good = make_run(tmp_path, "quickstart", "good")
    bomb = make_run(tmp_path, "quickstart", "bomb")
    lines = ["a0: &a0 {x: 1, y: 2, z: 3, w: 4, v: 5, u: 6, t: 7, s: 8, r: 9, q: 10}"]
    for i in range(1, 8):  # 10**8 values once expanded, from a few hundred bytes
        refs = ", ".join(f"k{j}: *a{i - 1}" for j in range(10))
        lines.append(f"a{i}: &a{i} {{{refs}}}")
    text = (bomb / "config.yaml").read_text() + "\n".join(lines) + "\n"
    (bomb / "config.yaml").write_text(text)
    began = time.monotonic()
    assert main(["compare", str(good), str(bomb)]) == 2
    assert time.monotonic() - began < 10
    err = capsys.readouterr().err
    assert "bomb/config.yaml" in err and "expands to more than" in err, err


def test_no_yaml_read_bypasses_the_bounded_loader() -> None:
    package = Path(__file__).resolve().parents[2] / "tui_trainer"
    plain = [
        f"{path.relative_to(package)}:{number}"
        for path in package.rglob("*.py")
        if path.name != "yaml_safe.py"
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if re.search(r"yaml\.(safe_load|load|full_load|unsafe_load)\(", line)
    ]
    assert plain == []


def long_steering(run_dir: Path, entries: int) -> Path:
    """config.yaml with `entries` steering entries (as a long, much-steered run leaves it)."""
    config = run_dir / "config.yaml"
    base = config.read_text().replace("steering: []\n", "")
    lines = "".join(f"- {{step: {i}, change: lr=0.01}}\n" for i in range(1, entries + 1))
    config.write_text(f"{base}steering:\n{lines}")
    return config


def test_a_runs_own_config_is_read_within_the_run_file_bounds(tmp_path: Path, monkeypatch) -> None:
    """Replay and resume read a run's config.yaml within `RUN_FILE`, hand-written presets within
    `PRESET` (shrunk here to 32 KB so that the test stays fast)."""
    from tui_trainer.config import loader, yaml_safe

    monkeypatch.setattr(loader, "PRESET", yaml_safe.Limits(32 * 1024, 5000, 10**6, "a preset"))
    config = long_steering(make_run(tmp_path, "quickstart", "long"), 1500)
    assert config.stat().st_size > 32 * 1024
    loaded, name = load_config(config)
    assert len(loaded.steering) == 1500 and name == "quickstart"
    preset = tmp_path / "big.yaml"
    preset.write_text(config.read_text())
    with pytest.raises(UserError, match="larger than 32,768 bytes"):
        load_config(preset)


@pytest.mark.slow
def test_a_runs_own_config_over_a_mebibyte_still_replays(tmp_path: Path) -> None:
    """A week of steering: config.yaml passes the 1 MiB preset bound and still replays (slow:
    PyYAML's pure-Python parser reads a MiB in seconds)."""
    config = long_steering(make_run(tmp_path, "quickstart", "long"), 36_000)
    assert config.stat().st_size > 1024 * 1024
    loaded, _ = load_config(config)
    assert len(loaded.steering) == 36_000


def test_the_runs_browser_lists_the_others_and_names_each_damaged_folder(root: Path) -> None:
    from tui_trainer.tui import runs_view as rv

    listing = rv.scan(root)
    assert {Path(i.run_dir).name for i in listing.runs} == {"good", *LISTED}
    assert len(listing.problems) == len(DAMAGES) - len(LISTED)
    assert any("best-x/summary.json: best" in p for p in listing.problems), listing.problems
    rows = [rv.best_text(i) + rv.took_text(i) + rv.started_text(i) for i in listing.runs]
    assert len(rows) == len(listing.runs)  # every listed row renders
