"""Steering and control requests that must not poison, drop or slow a run.

Refusals checked on the result of a change, entries of a failed step dropped, control requests
honoured in arrival order, no-op steers free and config.yaml writes batched.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from support.runs import TINY, Recorder, only_run_dir

from tui_trainer.config import load_config
from tui_trainer.engine import steer as steer_module
from tui_trainer.runlog.control import Control
from tui_trainer.runlog.events import (
    CheckpointSaved,
    Paused,
    Resumed,
    Steered,
    StepProgress,
)
from tui_trainer.session import _execute, execute, prepare

EVERY_STEP = [*TINY, "progress.interval=1e-9"]  # a StepProgress every step
CONSTANT = [*EVERY_STEP, "epochs=1", "scheduler.name=none", "scheduler.warmup_epochs=0"]


class At(Recorder):
    """Records every event; calls `actions[N](control)` at the progress event of step N (its
    boundary's control poll comes right after) and `on[type](control, event)` for others."""

    def __init__(self, control: Control, actions: dict, on: dict | None = None) -> None:
        super().__init__()
        self.control, self.actions, self.on = control, actions, on or {}
        self.lr: dict[int, float] = {}
        self.replies: list = []

    def __call__(self, event) -> None:
        super().__call__(event)
        if isinstance(event, StepProgress):
            self.lr[event.global_step] = event.lr
            if event.global_step in self.actions:
                self.replies.append(self.actions[event.global_step](self.control))
        for kind, fn in self.on.items():
            if isinstance(event, kind):
                fn(self.control, event)


def run(out: Path, overrides: list[str], actions: dict, on: dict | None = None, **kw):
    config, name = load_config("quickstart", [*overrides, f"out={out}"])
    control = Control()
    sink = At(control, actions, on)
    finished = execute(config, name, sinks=[sink], control=control, **kw)
    return finished, sink, only_run_dir(out)


def records(run_dir: Path, kind: str) -> list[dict]:
    lines = (run_dir / "metrics.jsonl").read_text().splitlines()
    return [r for r in map(json.loads, lines) if r["event"] == kind]


def saved_steering(run_dir: Path) -> list[dict]:
    return yaml.safe_load((run_dir / "config.yaml").read_text())["steering"]


# -- 1. a change is checked on its result; a failed step keeps no entry -----------------------
def test_a_subnormal_lr_then_a_normal_one_cannot_poison_the_run(tmp_path: Path) -> None:
    """ctl lr=1e-320 then ctl lr=0.01 used to give an LR plan of inf and a failed run whose
    config.yaml kept both entries (so replay and --resume failed the same way)."""
    steps = {3: lambda c: c.steer("lr=1e-320"), 5: lambda c: c.steer("lr=0.01")}
    finished, sink, run_dir = run(tmp_path, [*CONSTANT, "optim.lr=0.05"], steps)
    assert finished.status == "completed"
    assert sink.replies[0] and "too small" in sink.replies[0]
    assert sink.replies[1] is None
    assert saved_steering(run_dir) == [{"step": 5, "change": "lr=0.01"}]
    assert sink.lr[5] == 0.05 and sink.lr[6] == pytest.approx(0.01)


def test_a_change_whose_plan_would_overflow_is_refused(tmp_path: Path) -> None:
    """In a warm-up the LR now is a tenth of the coming peak: lr=3e38 passes the input check
    but the plan would reach 3e39 (inf in float32); only the result shows it."""
    over = [*EVERY_STEP, "epochs=2", "scheduler.name=cosine", "scheduler.warmup_epochs=1"]
    over += ["scheduler.warmup_start_factor=0.1"]
    queued = {3: lambda c: c.steer("lr=3e38"), 4: lambda c: c.steer("lr=*1e300")}
    finished, sink, run_dir = run(tmp_path, over, queued)
    assert finished.status == "completed"
    assert "LR plan would reach" in sink.replies[0], sink.replies
    assert "float32" in sink.replies[1], sink.replies
    assert not sink.of(Steered) and saved_steering(run_dir) == []


def test_queued_changes_are_checked_together(tmp_path: Path) -> None:
    """Two factors sent within one step are each fine alone; the second is checked against the
    LR the first will leave, so the requester hears the refusal."""
    both = {3: lambda c: [c.steer("lr=*1e-20"), c.steer("lr=*1e-20")]}
    finished, sink, run_dir = run(tmp_path, [*CONSTANT, "optim.lr=0.05"], both)
    assert finished.status == "completed"
    first, second = sink.replies[0]
    assert first is None and second and "beyond what float32 holds" in second
    assert saved_steering(run_dir) == [{"step": 3, "change": "lr=*1e-20"}]


def test_a_failed_step_keeps_no_steering_entry(tmp_path: Path) -> None:
    """lr=*0.5 and validate at one boundary; the validation pass fails, so does the run:
    config.yaml must not keep the step's entries for replay or --resume to fail on again."""
    config, name = load_config("quickstart", [*CONSTANT, f"out={tmp_path}"])
    control = Control()
    prepared = prepare(config, name, control=control)
    trainer = prepared.trainer
    validate = trainer.validate

    def failing_validate():
        if trainer.progress.global_step == 3:
            raise RuntimeError("the validation data went away")
        return validate()

    trainer.validate = failing_validate
    sink = At(control, {3: lambda c: [c.steer("lr=*0.5"), c.steer("validate")]})
    finished = _execute(prepared, [sink])
    assert finished.status == "failed"
    run_dir = only_run_dir(tmp_path)
    assert saved_steering(run_dir) == []
    assert any("does not keep lr=*0.5" in m for m in sink.messages("warning"))


# -- 2. control requests queue, none overrides another ---------------------------------------
def _resume_when_paused(control: Control, event: Paused) -> None:
    control.resume()


def test_checkpoint_then_pause_within_one_step_saves_then_pauses(tmp_path: Path) -> None:
    """`c` then `p` used to lose the checkpoint (no file, no event)."""
    finished, sink, _ = run(
        tmp_path,
        CONSTANT,
        {3: lambda c: (c.request_checkpoint(), c.pause())},
        {Paused: _resume_when_paused},
    )
    assert finished.status == "completed"
    order = [
        (type(e).__name__, getattr(e, "reason", None))
        for e in sink.events
        if isinstance(e, CheckpointSaved | Paused | Resumed)
    ]
    assert order[:3] == [("CheckpointSaved", "request"), ("Paused", None), ("Resumed", None)]
    saved = [e for e in sink.of(CheckpointSaved) if e.reason == "request"]
    assert [e.global_step for e in saved] == [3]
    assert Path(saved[0].path).is_file()


def test_requests_are_honoured_in_arrival_order(tmp_path: Path) -> None:
    """pause, a steer and a checkpoint sent while paused, another steer and checkpoint
    before the pause even started: each is honoured once, in the order it came."""

    def while_paused(control: Control, event: Paused) -> None:
        control.steer("lr=*0.5")
        control.request_checkpoint()
        control.resume()

    finished, sink, run_dir = run(
        tmp_path,
        CONSTANT,
        {3: lambda c: (c.steer("lr=*0.9"), c.request_checkpoint(), c.pause())},
        {Paused: while_paused},
    )
    assert finished.status == "completed"
    seen = [
        (type(e).__name__, getattr(e, "change", getattr(e, "reason", None)))
        for e in sink.events
        if isinstance(e, CheckpointSaved | Paused | Resumed | Steered)
    ]
    assert seen[:6] == [
        ("Steered", "lr=*0.9"),
        ("CheckpointSaved", "request"),
        ("Paused", None),
        ("Steered", "lr=*0.5"),
        ("CheckpointSaved", "request"),
        ("Resumed", None),
    ]
    assert [(s["step"], s["change"]) for s in saved_steering(run_dir)] == [
        (3, "lr=*0.9"),
        (3, "lr=*0.5"),
    ]


def test_control_queue_is_bounded_and_ordered() -> None:
    control = Control()
    control.steer_check = lambda change: None
    for _ in range(5):
        control.request_checkpoint()  # nothing changes between them: one save
        control.pause()
    assert control.steer("lr=0.1") is None
    control.request_checkpoint()
    control.resume()
    assert control.take_actions() == [
        ("checkpoint", ""),
        ("pause", ""),
        ("steer", "lr=0.1"),
        ("checkpoint", ""),
    ]
    assert control.take_actions() == [] and not control.paused


# -- 3. no-op steers are free; config.yaml writes are batched -------------------------------
def test_a_change_to_the_value_in_force_is_unchanged_and_not_recorded(tmp_path: Path) -> None:
    checks = {
        3: lambda c: [
            c.submit_steer("lr=0.05"),
            c.submit_steer("lr=*1"),
            c.submit_steer("epochs=1"),
        ]
    }
    finished, sink, run_dir = run(tmp_path, [*CONSTANT, "optim.lr=0.05"], checks)
    assert finished.status == "completed"
    assert [outcome for outcome, _ in sink.replies[0]] == ["unchanged"] * 3
    assert "already" in sink.replies[0][0][1]
    assert not sink.of(Steered) and not records(run_dir, "config")
    assert saved_steering(run_dir) == []


def test_config_writes_are_batched_and_complete_before_a_checkpoint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Three changes at one boundary: one config.yaml write; changes at the next steps wait
    (at most one write every WRITE_EVERY s) but are in config.yaml before a checkpoint is
    saved and at the end."""
    monkeypatch.setattr(steer_module, "WRITE_EVERY", 3600.0, raising=False)
    at_checkpoint: list[list[dict]] = []

    def on_saved(control: Control, event: CheckpointSaved) -> None:
        if event.reason == "periodic":
            at_checkpoint.append(saved_steering(Path(event.path).parent.parent))

    three = lambda c: [c.steer("lr=*0.5"), c.steer("lr=*0.5"), c.steer("validate")]  # noqa: E731
    finished, _, run_dir = run(
        tmp_path,
        [*CONSTANT, "checkpoint.every_steps=6", "checkpoint.keep=5"],
        {2: three, 3: lambda c: c.steer("lr=*2"), 4: lambda c: c.steer("lr=*2")},
        {CheckpointSaved: on_saved},
    )
    assert finished.status == "completed"
    expected = [
        {"step": 2, "change": "lr=*0.5"},
        {"step": 2, "change": "lr=*0.5"},
        {"step": 2, "change": "validate"},
        {"step": 3, "change": "lr=*2.0"},
        {"step": 4, "change": "lr=*2.0"},
    ]
    assert at_checkpoint[0] == expected  # flushed before the step-6 checkpoint
    assert saved_steering(run_dir) == expected
    assert len(records(run_dir, "config")) == 2  # step 2's batch, then the rest at step 6


def test_ctl_refuses_a_subnormal_lr_in_one_line(tmp_path: Path, capsys) -> None:
    from support.cli import one_line_error

    from tui_trainer.cli import main

    assert main(["ctl", str(tmp_path), "lr=1e-320"]) == 2
    assert "lr=1e-320: lr: 1e-320 is too small to compute with" in one_line_error(capsys)


def test_a_long_steered_schedule_stays_short_and_computable() -> None:
    """A week of steering: back-to-back LR changes merge into one; thousands of changes of
    both kinds (which cannot merge) are walked without recursion."""
    from tui_trainer.config.schema import SchedulerConfig
    from tui_trainer.engine.lr_schedule import LRSchedule

    merged = LRSchedule(SchedulerConfig(name="none", warmup_epochs=0), 0.1, 10)
    for i in range(1000):
        merged.scale_from(i / 200, 0.999)
    assert len(merged.changes) == 1 and merged.lr_at(5.0) == pytest.approx(0.1 * 0.999**1000)

    mixed = LRSchedule(SchedulerConfig(name="cosine", warmup_epochs=0), 0.1, 10)
    for i in range(1500):
        mixed.set_epochs(i / 1000, 10 + i % 2)
        mixed.scale_from(i / 1000, 1.0)
    assert len(mixed.changes) > 1500
    assert all(0 <= lr <= 0.1 for _, lr in mixed.plan())
