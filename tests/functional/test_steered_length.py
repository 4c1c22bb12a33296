"""A run whose length was steered (`e` 6→8, `ctl epochs=8`): `runs`, the browser and `compare`
read the planned length from the run record in one place (`runlog.reader.planned_by`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tui_trainer.compare import render_text
from tui_trainer.remote.runs import format_table, inspect
from tui_trainer.runlog import read_run, read_runs
from tui_trainer.sinks.files import write_config
from tui_trainer.tui import runs_view as rv

CONFIG: dict[str, Any] = {
    "task": "classification",
    "epochs": 6,
    "data": {"name": "digits", "batch_size": 32},
    "optim": {"name": "sgd", "lr": 0.05},
}


def write_run(root: Path, name: str, epochs: int, done: int, steer_to: int | None) -> Path:
    """A run started with `epochs`, `done` epochs finished, steered to `steer_to` after them;
    killed there (no summary), as a kill right after `e` leaves it."""
    run_dir = root / "quickstart" / name
    run_dir.mkdir(parents=True)
    write_config(run_dir, {**CONFIG, "epochs": epochs}, "quickstart")
    t = 1_796_000_000.0
    lines: list[dict[str, Any]] = [
        {
            "event": "started",
            "time": t,
            "preset": "quickstart",
            "device": "cpu",
            "precision": "fp32",
            "start_epoch": 0,
            "epochs": epochs,
            "steps_per_epoch": 4,
        },
    ]
    for epoch in range(1, done + 1):
        lines.append({"event": "epoch", "time": t + epoch, "epoch": epoch, "val_accuracy": 0.5,
                      "is_best": True, "epochs": epochs, "best_metric": "val_accuracy",
                      "best_value": 0.5, "best_epoch": epoch})  # fmt: skip
    if steer_to is not None:
        lines.append({"event": "steer", "time": t + done + 0.5, "global_step": done * 4,
                      "epoch": done + 1, "change": f"epochs={steer_to}", "what": "epochs",
                      "old": epochs, "new": steer_to, "source": "live", "metrics": {}})  # fmt: skip
    (run_dir / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in lines))
    return run_dir


def test_runs_browser_and_compare_show_the_steered_length(tmp_path: Path) -> None:
    steered = write_run(tmp_path, "20261201-100000", 6, 5, 8)
    other = write_run(tmp_path, "20261201-110000", 6, 5, None)
    info = inspect(steered)
    assert (info.epoch, info.epochs) == (5, 8)
    assert "5/8" in format_table([info])
    assert rv.progress_text(info) == "5/8"
    assert read_run(steered, strict=False).planned_epochs == 8
    text = render_text(read_runs([str(steered), str(other)]))
    config_part, metrics_part = text.split("# metrics")
    epochs_row = next(line for line in config_part.splitlines() if line.startswith("epochs "))
    assert epochs_row.split()[1:] == ["8", "(steered", "from", "6)", "6"]
    assert "5/8" in metrics_part and "5/6" in metrics_part


def test_compare_shows_a_steered_length_against_the_same_configured_one(tmp_path: Path) -> None:
    """Started at 8 vs started at 6 and steered to 8: the same length, not the same config."""
    steered = write_run(tmp_path, "20261201-100000", 6, 5, 8)
    planned = write_run(tmp_path, "20261201-110000", 8, 5, None)
    text = render_text(read_runs([str(steered), str(planned)]))
    rows = [line.split() for line in text.split("# metrics")[0].splitlines()]
    assert ["epochs", "8", "(steered", "from", "6)", "8"] in rows


def test_a_live_run_says_its_steered_length_before_its_next_step() -> None:
    """Steered while paused: `status` (what `runs` asks a live run) already has the new length."""
    from tui_trainer.remote.runstate import RunState
    from tui_trainer.runlog.control import Control
    from tui_trainer.runlog.events import Paused, Steered, StepProgress

    state = RunState(Control())
    state.track(StepProgress(5, 6, 3, 4, 19, 0.5, 0.01, None, 1.0))
    state.track(Paused(5, 3))
    state.track(Steered(19, 5, "epochs=8", "epochs", 6, 8, "live", {}))
    assert state.status()["epochs"] == 8
