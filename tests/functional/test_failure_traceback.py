"""A failed run keeps its real traceback: traceback.txt, summary.json, metrics.jsonl, console."""

from __future__ import annotations

import json
from pathlib import Path

from support.runs import Recorder, run_preset

from tui_trainer.config import load_config
from tui_trainer.headless import run_config
from tui_trainer.runlog.events import RunFinished
from tui_trainer.runlog.records import from_record


def test_the_traceback_of_a_failed_run_is_in_its_directory_and_its_records(tmp_path: Path) -> None:
    recorder = Recorder()
    finished, run_dir = run_preset(tmp_path / "runs", ["optim.lr=1e30"], sinks=[recorder])
    assert finished.status == "failed"
    text = (run_dir / "traceback.txt").read_text()
    assert text.startswith("Traceback (most recent call last):")
    assert "engine/loop.py" in text and "NonFiniteLoss: non-finite training loss" in text
    assert text == finished.traceback.rstrip() + "\n"  # the worker's own, not a re-raise
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["traceback"] == "traceback.txt"
    assert recorder.of(RunFinished)[0].summary["traceback"] == "traceback.txt"
    last = json.loads((run_dir / "metrics.jsonl").read_text().splitlines()[-1])
    watched = from_record(last)  # what `watch` and the console's watcher rebuild
    assert isinstance(watched, RunFinished) and watched.traceback == finished.traceback


def test_a_run_that_does_not_fail_writes_no_traceback(tmp_path: Path) -> None:
    finished, run_dir = run_preset(tmp_path / "runs", ["epochs=1"])
    assert finished.status == "completed"
    assert not (run_dir / "traceback.txt").exists()
    assert "traceback" not in json.loads((run_dir / "summary.json").read_text())


def test_headless_names_the_traceback_file(tmp_path: Path, capsys) -> None:
    config, name = load_config(
        "quickstart",
        ["epochs=1", "device=cpu", "optim.lr=1e30", f"out={tmp_path / 'runs'}"],
    )
    assert run_config(config, name) == 1
    out = capsys.readouterr().out
    trace = next(line for line in out.splitlines() if line.startswith("traceback: "))
    assert Path(trace.removeprefix("traceback: ")).read_text().startswith("Traceback")
