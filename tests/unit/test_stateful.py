"""Each stateful piece of a run owns its checkpoint state: `state_dict` then `load_state_dict`
on a fresh piece gives the same state back (weights_only-loadable values)."""

from __future__ import annotations

import io
import random

import pytest
import torch
from torch import nn

from tui_trainer.config.schema import FreezeConfig, RunConfig, SchedulerConfig
from tui_trainer.engine.distributed import SINGLE
from tui_trainer.engine.freeze import FreezePlan
from tui_trainer.engine.lr_schedule import LRSchedule
from tui_trainer.engine.meter import EpochMeter
from tui_trainer.engine.progress import Progress
from tui_trainer.engine.stateful import (
    CurrentConfig,
    RngState,
    ScalerState,
    Stateful,
    StepCounts,
)
from tui_trainer.engine.toggles import Toggles


def _through_a_file(state: dict) -> dict:
    """`state` saved and loaded the way checkpoints are (weights_only)."""
    buffer = io.BytesIO()
    torch.save(state, buffer)
    buffer.seek(0)
    return torch.load(buffer, weights_only=True)


def _round_trip(piece: Stateful, fresh: Stateful) -> None:
    assert isinstance(piece, Stateful) and isinstance(fresh, Stateful)
    fresh.load_state_dict(_through_a_file(piece.state_dict()))
    assert fresh.state_dict() == piece.state_dict()


def test_position_meter_plan_schedule_and_counts_round_trip(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The position's wall time runs on while the test reads it twice: a still clock
    monkeypatch.setattr("tui_trainer.engine.progress.time.monotonic", lambda: 1000.0)
    p = Progress(epoch=2, batch=5, global_step=17, best_value=0.5, best_epoch=2)
    p.history.append({"epoch": 1.0, "val_loss": 0.7})
    _round_trip(p, Progress())

    meter = EpochMeter(torch.device("cpu"), SINGLE)
    meter.add(torch.tensor(0.25), 4, torch.tensor(3.0), 4)
    meter.commit_window()
    _round_trip(meter, EpochMeter(torch.device("cpu"), SINGLE))

    model = nn.Sequential(nn.Linear(3, 3), nn.Linear(3, 2))
    cfg = FreezeConfig(enabled=True, epochs=None)
    plan = FreezePlan(model, cfg, "1")
    plan.unfreeze_now(1)
    fresh = FreezePlan(model, cfg, "1")
    _round_trip(plan, fresh)
    assert fresh.phase(1) == "full" and fresh.phase(0) == "frozen"

    schedule = LRSchedule(SchedulerConfig(name="cosine"), 0.1, 5)
    schedule.scale_from(1.5, 0.5)
    _round_trip(schedule, LRSchedule(SchedulerConfig(name="cosine"), 0.1, 5))

    counts = StepCounts()
    counts.skipped_steps = 3
    _round_trip(counts, StepCounts())


def test_scaler_rng_and_ema_round_trip() -> None:
    off = ScalerState(torch.amp.GradScaler("cuda", enabled=False))
    assert off.state_dict() == {}
    off.load_state_dict({})  # a checkpoint without a scaler leaves it as it is

    rng = RngState()
    saved = _through_a_file(rng.state_dict())
    drawn = (random.random(), torch.rand(3))
    rng.load_state_dict(saved)
    again = (random.random(), torch.rand(3))
    assert drawn[0] == again[0] and torch.equal(drawn[1], again[1])

    config = RunConfig.model_validate({"ema": {"enabled": True, "decay": 0.5}})
    model = nn.Linear(3, 2)
    toggles = Toggles(CurrentConfig(config), model, torch.device("cpu"), 2)
    toggles.after_step(model)
    fresh = Toggles(CurrentConfig(config), nn.Linear(3, 2), torch.device("cpu"), 2)
    assert fresh.load_state_dict(_through_a_file(toggles.state_dict())) is None
    assert fresh.ema is not None and toggles.ema is not None
    assert fresh.ema.updates == toggles.ema.updates == 1
    assert torch.equal(fresh.ema.module.weight, toggles.ema.module.weight)


def test_current_config_is_the_one_holder() -> None:
    """A change replaces the config in the holder; every reader holding it sees it."""
    current = CurrentConfig(RunConfig())
    toggles = Toggles(current, nn.Linear(3, 2), torch.device("cpu"), 2)
    current.add_note("compile: fell back")
    current.replace(epochs=7)
    assert toggles.current.value.notes == ["compile: fell back"]
    assert toggles.current.value.epochs == 7
