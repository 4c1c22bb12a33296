"""The run-record reader's metrics.jsonl scan: windowed reads agree with whole ones on every
record they keep, number lines exactly, and stay strict or tolerant about damaged lines."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tui_trainer.runlog import lines as lines_mod
from tui_trainer.runlog.lines import DamagedLine, scan


def step(g: int) -> str:
    return json.dumps(
        {
            "event": "step",
            "time": 1.0 + g,
            "epoch": g // 50 + 1,
            "epochs": 40,
            "step": g % 50 + 1,
            "steps": 50,
            "global_step": g,
            "loss": 1.0 / (g + 1),
            "lr": 0.1,
            "phase": "train",
        }
    )


def long_file(path: Path, steps: int = 2000) -> Path:
    out = [json.dumps({"event": "started", "time": 0.5, "epochs": 40})]
    for g in range(steps):
        out.append(step(g))
        if g % 50 == 49:
            out.append(
                json.dumps(
                    {
                        "event": "epoch",
                        "time": 1.0 + g,
                        "epoch": g // 50 + 1,
                        "val_loss": 0.5,
                        "epochs": 40,
                    }
                )
            )
    path.write_text("\n".join(out) + "\n")
    return path


@pytest.fixture
def small_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(lines_mod, "CHUNK", 4096)  # lines cross chunk boundaries


def kept(lines: lines_mod.Lines) -> list[tuple[int, str]]:
    return [(r["seq"], r["event"]) for r in lines.records if r["event"] != "step"]


@pytest.mark.parametrize("start,stop", [(0, None), (0, 777), (500, None), (500, 1500), (0, 1)])
def test_windowed_equals_whole_on_every_record_it_keeps(
    tmp_path: Path, small_chunks: None, start: int, stop: int | None
) -> None:
    path = long_file(tmp_path / "metrics.jsonl")
    whole = scan(path, start=start, stop=stop)
    windowed = scan(path, start=start, stop=stop, whole_bytes=0, samples=20)
    assert windowed.sampled and not whole.sampled
    assert kept(windowed) == kept(whole) and windowed.last_line == whole.last_line
    by_line = {r["seq"]: r for r in whole.records}
    assert all(by_line[r["seq"]] == r for r in windowed.records)  # numbers are exact
    steps = [r for r in windowed.records if r["event"] == "step"]
    all_steps = [r for r in whole.records if r["event"] == "step"]
    assert len(steps) <= 21  # sampled, plus the last step line
    assert steps[-1:] == all_steps[-1:]


def test_a_line_being_written_is_left_for_the_next_read(tmp_path: Path, small_chunks) -> None:
    path = long_file(tmp_path / "metrics.jsonl")
    total = path.read_text().count("\n")
    with open(path, "a") as fh:
        fh.write('{"event": "epoch", "ep')
    for whole_bytes in (10**9, 0):
        assert scan(path, whole_bytes=whole_bytes).last_line == total


@pytest.mark.parametrize("bad", ["{not json", '{"event": "epoch", "epoch": "x"}', "[1, 2]"])
@pytest.mark.parametrize("whole_bytes", [10**9, 0])
def test_strict_names_a_damaged_line_tolerant_skips_it(
    tmp_path: Path, small_chunks: None, bad: str, whole_bytes: int
) -> None:
    path = long_file(tmp_path / "metrics.jsonl")
    text = path.read_text().splitlines()
    text.insert(1234, bad)
    path.write_text("\n".join(text) + "\n")
    with pytest.raises(DamagedLine, match="line 1235 "):
        scan(path, strict=True, whole_bytes=whole_bytes)
    tolerant = scan(path, whole_bytes=whole_bytes)
    if whole_bytes or bad.startswith('{"event"'):  # windowed, a tolerant read passes over
        assert len(tolerant.damaged) == 1  # lines that are no record at all (for speed)
        assert tolerant.damaged[0].startswith("line 1235 ")
    assert 1235 not in {r["seq"] for r in tolerant.records}
    assert tolerant.last_line == len(text)


@pytest.mark.parametrize("whole_bytes", [10**9, 0])
def test_a_follower_reads_on_from_where_it_stopped(
    tmp_path: Path, small_chunks: None, whole_bytes: int
) -> None:
    """`known` (line, offset) from one read: the next goes on from there, numbers unchanged."""
    path = long_file(tmp_path / "metrics.jsonl")
    first = scan(path, stop=900, whole_bytes=whole_bytes, samples=5)
    assert first.last_line == 900
    with open(path, "rb") as fh:
        assert fh.read(first.end_offset).count(b"\n") == 900
    rest = scan(path, start=900, whole_bytes=whole_bytes, known=(900, first.end_offset))
    again = scan(path, start=900, whole_bytes=whole_bytes)
    assert kept(rest) == kept(again) and rest.last_line == again.last_line
    assert min(r["seq"] for r in rest.records) > 900
