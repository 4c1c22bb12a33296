"""Per-component state: the pieces of a run own their checkpoint state, `run_state` composes
them in the layout older checkpoints have, and one `CurrentConfig` holds the config in force."""

from __future__ import annotations

from pathlib import Path

import torch
from support.runs import TINY, Recorder

from tui_trainer.config import load_config
from tui_trainer.engine import run_state
from tui_trainer.engine.meter import EMPTY_STATE
from tui_trainer.engine.stateful import Stateful
from tui_trainer.runlog.control import Control
from tui_trainer.runlog.events import StepProgress
from tui_trainer.session import _execute, prepare

EVERY_STEP = [*TINY, "progress.interval=1e-9", "epochs=1", "ema.enabled=true"]

LAYOUT = {
    "format", "version", "model", "optimizer", "scaler", "schedule", "steer", "progress",
    "phase", "world_size", "batch_size", "skipped_steps", "rng", "config", "class_names", "ema",
}  # fmt: skip
"""The top-level keys of a format-1 checkpoint (under EMA): what runs before the pieces owned
their state wrote, so their checkpoints resume unchanged."""


class SteerAt(Recorder):
    """Records events; sends `change` at the progress event of optimizer step `step`."""

    def __init__(self, control: Control, step: int, change: str) -> None:
        super().__init__()
        self.control, self.step, self.change = control, step, change

    def __call__(self, event) -> None:
        super().__call__(event)
        if isinstance(event, StepProgress) and event.global_step == self.step:
            self.control.steer(self.change)


def _steered(tmp_path: Path, out: str):
    config, name = load_config("quickstart", [*EVERY_STEP, f"out={tmp_path / out}"])
    control = Control()
    prepared = prepare(config, name, control=control)
    finished = _execute(prepared, [SteerAt(control, 3, "lr=*0.5")])
    assert finished.status == "completed"
    return prepared.trainer


def test_a_checkpoint_keeps_the_layout_older_checkpoints_have(tmp_path: Path) -> None:
    trainer = _steered(tmp_path, "a")
    saved = torch.load(trainer.run_dir / "checkpoints" / "last.pt", weights_only=True)
    # optional on load: "time_split" (where the step time went; an older one counts from 0)
    assert set(saved) - {"segment", "time_split"} == LAYOUT
    assert set(saved["time_split"]["seconds"]) == {"data", "copy", "compute", "optimizer", "other"}
    assert set(saved["steer"]) == {"applied", "unfrozen_epoch"}
    assert set(saved["progress"]) == {
        "epoch", "batch", "global_step", "best_value", "best_epoch", "history",
        "wall_seconds",  # optional on load: an older checkpoint's run counts from its resume
        "epoch_loss_sum", "epoch_correct", "epoch_seen", "epoch_units",
    }  # fmt: skip
    assert saved["steer"]["applied"] == 1 and saved["skipped_steps"] == 0


def test_restore_hands_each_piece_its_part_without_a_trainer(tmp_path: Path) -> None:
    """A checkpoint restored into another run's pieces captures back the same state."""
    done = _steered(tmp_path, "a")
    saved = torch.load(done.run_dir / "checkpoints" / "last.pt", weights_only=True)
    config, name = load_config("quickstart", [*EVERY_STEP, f"out={tmp_path / 'b'}"])
    parts = prepare(config, name, control=Control()).trainer.parts
    for piece in (parts.scaler, parts.schedule, parts.steer, parts.progress, parts.meter):
        assert isinstance(piece, Stateful)
    run_state.restore_position(parts.progress, parts.steer, saved)
    run_state.restore(parts, saved, batch_size=int(saved["batch_size"]))
    again = run_state.capture(parts, EMPTY_STATE, epoch=0, batch_size=int(saved["batch_size"]))
    wall, wall_again = saved["progress"].pop("wall_seconds"), again["progress"].pop("wall_seconds")
    assert wall_again >= wall  # the wall time carries on from the checkpoint's
    for key in ("schedule", "steer", "progress", "skipped_steps", "phase"):
        assert again[key] == saved[key], key
    assert again["ema"]["updates"] == saved["ema"]["updates"]
    assert again["time_split"] == saved["time_split"]  # the seconds per part carry on
    for mine, theirs in ((again["model"], saved["model"]), (again["ema"], saved["ema"])):
        weights = theirs.get("module", theirs)
        assert all(torch.equal(mine.get("module", mine)[k], weights[k]) for k in weights)
    assert again["optimizer"]["param_groups"] == saved["optimizer"]["param_groups"]


def test_one_holder_of_the_config_every_reader_sees_a_steered_change(tmp_path: Path) -> None:
    """A live change is recorded in the config the trainer, the toggles and the steerer read
    (before, the toggles kept the config the run started with)."""
    trainer = _steered(tmp_path, "a")
    entries = [(e.step, e.change) for e in trainer.config.steering]
    assert entries == [(3, "lr=*0.5")]
    assert trainer.toggles.current.value.steering == trainer.config.steering
    assert trainer.steering.config.value is trainer.config
