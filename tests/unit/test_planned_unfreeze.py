"""The unfreeze dialog after the planned unfreeze (`freeze.epochs`): the counts of now."""

from __future__ import annotations

from tui_trainer.runlog.events import RunStarted, StepProgress
from tui_trainer.tui.model import RunModel
from tui_trainer.tui.screens.steer import SteerInfo, describe

CONFIG = {"data": {"batch_size": 32}, "freeze": {"enabled": True, "epochs": 1}}


def started(config: dict) -> RunStarted:
    return RunStarted("runs/x", "demo", config, "cpu", "fp32", 3, 0, 10,
                      1_000, 11_000, "classification", ["a", "b"])  # fmt: skip


def step(epoch: int) -> StepProgress:
    return StepProgress(epoch, 3, 1, 10, 1, 1.0, 0.1, 640.0, 0.1, steps_per_second=20.0)


def dialog_text(model: RunModel) -> str:
    """What the `u` dialog says, from the model as the run screen builds it."""
    info = SteerInfo(model.lr, model.progress.epoch, model.progress.epochs,
                     model.trainable_params, model.total_params)  # fmt: skip
    return describe("unfreeze", info)[0]


def test_the_dialog_counts_follow_the_planned_unfreeze() -> None:
    model = RunModel()
    model.apply(started(CONFIG))
    model.apply(step(1))
    assert dialog_text(model) == "Trainable: 1,000 of 11,000 parameters (10,000 frozen)"
    model.apply(step(2))  # epoch 2: the engine unfroze the backbone as planned
    assert dialog_text(model) == "Trainable: 11,000 of 11,000 parameters (nothing frozen)"


def test_frozen_all_run_or_freeze_off_keeps_the_start_counts() -> None:
    for freeze in ({"enabled": True, "epochs": None}, {"enabled": False, "epochs": 1}):
        model = RunModel()
        model.apply(started({**CONFIG, "freeze": freeze}))
        model.apply(step(3))
        assert model.trainable_params == 1_000
