"""The docs' "Your own code" worked example runs as written (issue 25), so it
cannot rot; it lives in docs/data-tasks.md (it was in README.md before the docs site).

The example's Python and YAML blocks (each begins with a `# path` comment) are written to a temp
folder with a generated CSV-labelled image set; its `check` and `run` commands are run as the
the page gives them (shortened to two epochs), and the torchmetrics F1 it names must appear in the
epoch lines and pick best.pt.
"""

from __future__ import annotations

import csv
import json
import random
import re
import shlex
import sys
from pathlib import Path

import pytest
from PIL import Image, ImageDraw
from support.runs import epoch_lines, only_run_dir

from tui_trainer.cli import main

ROOT = Path(__file__).resolve().parents[2]
BLOCK = re.compile(r"```(python|yaml|bash)\n(.*?)```", re.S)


def own_code_section() -> str:
    """The "## Your own code" section of docs/data-tasks.md, up to the next `## ` heading."""
    text = (ROOT / "docs" / "data-tasks.md").read_text()
    start = text.index("\n## Your own code\n")
    end = text.find("\n## ", start + 1)
    end = len(text) if end < 0 else end  # the last section runs to the end
    return text[start:end]


def example_files() -> tuple[dict[str, str], list[list[str]]]:
    """{path: text} of the section's Python and YAML blocks, and its commands as argv lists."""
    files: dict[str, str] = {}
    commands: list[list[str]] = []
    for lang, body in BLOCK.findall(own_code_section()):
        if lang == "bash":
            for line in body.splitlines():
                argv = shlex.split(line, comments=True)
                if argv:
                    commands.append(argv)
            continue
        first, _, _ = body.partition("\n")
        assert first.startswith("# "), f"a {lang} block must begin with '# path': {first!r}"
        files[first[2:].strip()] = body
    return files, commands


def write_shapes(folder: Path, rng: random.Random) -> None:
    """`train.csv` and `val.csv` of `file,label` rows: circles and squares, 32 px PNGs."""
    (folder / "images").mkdir()
    for split, count in (("train", 48), ("val", 16)):
        with open(folder / f"{split}.csv", "w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(["file", "label"])
            for i in range(count):
                label = ("circle", "square")[i % 2]
                image = Image.new("L", (32, 32), 0)
                x, y, r = rng.randint(8, 24), rng.randint(8, 24), rng.randint(5, 7)
                draw = ImageDraw.Draw(image)
                shape = draw.ellipse if label == "circle" else draw.rectangle
                shape((x - r, y - r, x + r, y + r), fill=255)
                name = f"images/{split}-{i:04d}.png"
                image.save(folder / name)
                writer.writerow([name, label])


@pytest.fixture
def fresh_mylab():
    """No `mylab` package imported before or left after (other tests name their own `mylab`)."""

    def drop() -> None:
        for name in [m for m in sys.modules if m == "mylab" or m.startswith("mylab.")]:
            del sys.modules[name]

    drop()
    yield
    drop()


def test_the_readme_example_is_complete():
    files, commands = example_files()
    assert {"mylab/data.py", "mylab/losses.py"} <= set(files), sorted(files)
    assert any(path.startswith("presets/") and path.endswith(".yaml") for path in files)
    assert [argv[:3] for argv in commands] == [
        ["PYTHONPATH=.", "tui-trainer", "check"],
        ["PYTHONPATH=.", "tui-trainer", "run"],
    ]


def test_the_readme_example_trains_and_f1_picks_best(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    fresh_mylab: None,
) -> None:
    files, commands = example_files()
    for path, text in files.items():
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text(text)
    (tmp_path / "mylab" / "__init__.py").write_text("")  # "with an empty mylab/__init__.py"
    write_shapes(tmp_path, random.Random(0))
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))  # PYTHONPATH=.

    (_env, _prog, check, preset), (_, _, run, run_preset) = commands
    assert main([check, preset]) == 0
    assert "Python code imported and checked" in capsys.readouterr().out

    out = tmp_path / "runs"
    argv = [run, run_preset, "epochs=2", "device=cpu", "--out", str(out)]
    assert main(argv) == 0
    run_dir = only_run_dir(out)
    lines = epoch_lines(run_dir)
    assert len(lines) == 2
    f1 = [line["val_multiclassf1score"] for line in lines]
    assert all(0.0 <= v <= 1.0 for v in f1), f1
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["best"]["metric"] == "val_multiclassf1score"  # the preset's monitor
    assert summary["best"]["value"] == max(f1)
    assert (run_dir / "checkpoints" / "best.pt").is_file()

    capsys.readouterr()
    assert main(["eval", str(run_dir)]) == 0  # "eval ... as for built-in data"
    assert "multiclassf1score" in capsys.readouterr().out
