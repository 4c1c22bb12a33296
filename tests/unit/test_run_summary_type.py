"""summary.json has one typed definition (`runlog.RunSummary`): the engine's builder writes
only keys it declares, and what a reader gets back is checked against it."""

from __future__ import annotations

import json
from pathlib import Path

from tui_trainer.engine.progress import Progress, run_summary
from tui_trainer.runlog import RunSummary, read_summary
from tui_trainer.runlog.summary import Best


def _built() -> RunSummary:
    progress = Progress(global_step=12, samples=384, best_value=0.9, best_epoch=2)
    progress.history = [{"epoch": 1, "val_accuracy": 0.8}, {"epoch": 2, "val_accuracy": 0.9}]
    return run_summary(
        progress,
        status="failed",
        monitor="val_accuracy",
        wall=3.0,
        train_seconds=2.0,
        precision="fp32",
        skipped_steps=1,
        nonfinite_skipped=0,
        notes=["a note"],
        error="boom",
    )


def test_the_builder_writes_only_declared_keys() -> None:
    summary = _built()
    assert set(summary) <= set(RunSummary.__annotations__)
    assert set(summary["best"]) == set(Best.__annotations__)
    assert RunSummary.__required_keys__ == {"status"}


def test_a_summary_reads_back_as_written(tmp_path: Path) -> None:
    summary = _built()
    (tmp_path / "summary.json").write_text(json.dumps(summary))
    assert read_summary(tmp_path) == summary
