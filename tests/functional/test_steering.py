"""Steering a live run: each change's effect, refusals, records, resume and an exact replay."""

from __future__ import annotations

import json
import math
from itertools import pairwise
from pathlib import Path

import pytest
import torch
import yaml
from support.runs import TINY, Recorder, only_run_dir

from tui_trainer.cli import main
from tui_trainer.config import load_config
from tui_trainer.runlog.control import Control, StopMode
from tui_trainer.runlog.events import LRPlan, Steered, StepProgress
from tui_trainer.session import _execute, execute, prepare

EVERY_STEP = [*TINY, "progress.interval=1e-9"]  # a StepProgress (and its loss) every step
CONSTANT = [*EVERY_STEP, "epochs=1", "scheduler.name=none", "scheduler.warmup_epochs=0"]


class Steer(Recorder):
    """Records every event; at given global steps, sends steering changes as `ctl` would.

    The progress event of step N comes before that boundary's control poll, so a change
    sent then takes effect at step N.
    """

    def __init__(self, control: Control, plan: dict[int, list[str]], stop_at: int | None = None):
        super().__init__()
        self.control, self.plan, self.stop_at = control, plan, stop_at
        self.refused: dict[str, str | None] = {}
        self.lr: dict[int, float] = {}
        self.loss: dict[int, float] = {}

    def __call__(self, event) -> None:
        super().__call__(event)
        if isinstance(event, StepProgress):
            self.lr[event.global_step] = event.lr
            self.loss[event.global_step] = event.loss
            for change in self.plan.get(event.global_step, []):
                self.refused[change] = self.control.steer(change)
            if event.global_step == self.stop_at:
                self.control.request_stop(StopMode.STEP, status="interrupted")


def steered_run(out: Path, overrides: list[str], plan: dict[int, list[str]], **kw):
    config, name = load_config("quickstart", [*overrides, f"out={out}"])
    control = Control()
    sink = Steer(control, plan, kw.pop("stop_at", None))
    finished = execute(config, name, sinks=[sink], control=control, **kw)
    return finished, sink, only_run_dir(out)


def records(run_dir: Path, kind: str) -> list[dict]:
    lines = (run_dir / "metrics.jsonl").read_text().splitlines()
    return [r for r in map(json.loads, lines) if r["event"] == kind]


def saved_steering(run_dir: Path) -> list[dict]:
    return yaml.safe_load((run_dir / "config.yaml").read_text())["steering"]


def test_lr_value_then_factor_change_the_lr_from_that_step(tmp_path: Path) -> None:
    finished, sink, run_dir = steered_run(
        tmp_path, [*CONSTANT, "optim.lr=0.05"], {3: ["lr=0.001"], 6: ["lr=*0.5"]}
    )
    assert finished.status == "completed" and sink.refused == {"lr=0.001": None, "lr=*0.5": None}
    lrs = [sink.lr[s] for s in sorted(sink.lr)]
    assert lrs[:3] == [0.05] * 3
    assert lrs[3:6] == pytest.approx([0.001] * 3, rel=1e-12)
    assert lrs[6:] == pytest.approx([0.0005] * (len(lrs) - 6), rel=1e-12)
    steers = records(run_dir, "steer")
    assert [(r["global_step"], r["change"], r["what"]) for r in steers] == [
        (3, "lr=0.001", "lr"),
        (6, "lr=*0.5", "lr"),
    ]
    assert steers[0]["old"] == 0.05 and steers[0]["new"] == pytest.approx(0.001)
    assert steers[1]["old"] == pytest.approx(0.001) and steers[1]["new"] == pytest.approx(0.0005)
    assert saved_steering(run_dir) == [
        {"step": 3, "change": "lr=0.001"},
        {"step": 6, "change": "lr=*0.5"},
    ]
    plans = [e for e in sink.of(LRPlan) if e.reason == "steer"]
    assert len(plans) == 2 and plans[-1].points[-1][1] == pytest.approx(0.0005)
    log = sink.messages()
    assert any(m.startswith("step 3: lr 0.05 → 0.001") for m in log)


def test_epochs_extended_keeps_the_cosine_curve_continuous(tmp_path: Path) -> None:
    over = [*EVERY_STEP, "epochs=2", "scheduler.name=cosine", "scheduler.warmup_epochs=0"]
    finished, sink, run_dir = steered_run(tmp_path, over, {30: ["epochs=4"]})
    assert finished.status == "completed" and sink.refused == {"epochs=4": None}
    assert len(records(run_dir, "epoch")) == 4
    steps = sorted(sink.lr)
    lrs = [sink.lr[s] for s in steps]
    jumps = [abs(b - a) for a, b in pairwise(lrs)]
    before = max(jumps[:29])
    assert jumps[29] <= before  # no jump where the length changed (steps 30 → 31)
    assert max(jumps[30:]) <= before  # the stretched remainder is gentler than before
    assert all(b <= a for a, b in pairwise(lrs))  # still decaying
    assert lrs[-1] < 0.01 * lrs[0]  # and it reaches its end at the new last epoch
    plan = [e for e in sink.of(LRPlan) if e.reason == "steer"][-1]
    assert plan.points[-1][0] == 4.0
    ends = {r["epoch"]: r["lr"] for r in records(run_dir, "epoch")}
    assert ends[4] == lrs[-1]


def test_unfreeze_trains_the_backbone_and_takes_the_main_batch_next_epoch(tmp_path: Path) -> None:
    over = [*EVERY_STEP, "freeze.enabled=true", "freeze.batch_size=128", f"out={tmp_path}"]
    config, name = load_config("quickstart", over)
    control = Control()
    run = prepare(config, name, control=control)
    trainer = run.trainer
    frozen = set(trainer.frozen)
    before = {n: p.detach().clone() for n, p in trainer.model.named_parameters()}
    sink = Steer(control, {4: ["unfreeze"]})
    finished = _execute(run, [sink])
    assert finished.status == "completed" and sink.refused == {"unfreeze": None}
    params = dict(trainer.model.named_parameters())
    assert all(params[n].requires_grad for n in frozen)
    in_optimizer = {id(p) for g in trainer.optimizer.param_groups for p in g["params"]}
    assert {id(params[n]) for n in frozen} <= in_optimizer
    assert all(not torch.equal(before[n], params[n]) for n in frozen)  # they trained
    steps = {e.epoch: e.steps for e in sink.of(StepProgress)}
    assert steps[1] < steps[2]  # the frozen batch (128) ends with epoch 1; then 64
    assert [(e.global_step, e.what) for e in sink.of(Steered)] == [(4, "unfreeze")]
    assert any("step 4: unfreeze" in m for m in sink.messages())


def test_validate_now_equals_a_validation_pass_at_that_step(tmp_path: Path) -> None:
    over = [*CONSTANT, "checkpoint.every_steps=5", "checkpoint.keep=50", f"out={tmp_path}"]
    config, name = load_config("quickstart", over)
    control = Control()
    run = prepare(config, name, control=control)
    sink = Steer(control, {5: ["validate"]})
    assert _execute(run, [sink]).status == "completed"
    (steered,) = sink.of(Steered)
    assert steered.global_step == 5 and set(steered.metrics) == {"val_loss", "val_accuracy"}
    saved = torch.load(
        only_run_dir(tmp_path) / "checkpoints" / "step_00000005.pt", weights_only=True
    )
    run.trainer.model.load_state_dict(saved["model"])
    assert run.trainer.validate() == steered.metrics
    assert len(records(only_run_dir(tmp_path), "epoch")) == 1  # the epoch went on


def test_refusals_leave_the_run_unchanged(tmp_path: Path) -> None:
    bad = ["lr=-1", "lr=0", "lr=nan", "lr=inf", "lr=*-2", "lr=1e42", "lr=*1e300"]
    bad += ["unfreeze", "epochs=0", "momentum=1", "lr=1e-320", "lr=*1e-320", "lr=1e-39"]
    over = [*EVERY_STEP, "epochs=2", "scheduler.name=none", "scheduler.warmup_epochs=0"]
    finished, sink, run_dir = steered_run(tmp_path, over, {3: bad, 30: ["epochs=1"]})
    assert finished.status == "completed"
    assert all(sink.refused[c] for c in bad), sink.refused
    assert "nothing is frozen" in sink.refused["unfreeze"]
    assert sink.refused["epochs=1"] == "epochs=1 is below the epoch in progress (2)"
    assert "\n" not in "".join(r for r in sink.refused.values() if r)
    assert not sink.of(Steered) and not records(run_dir, "steer")
    assert saved_steering(run_dir) == []
    assert len(set(sink.lr.values())) == 1 and len(records(run_dir, "epoch")) == 2
    assert sink.control.steer("lr=0.001") == "the run has finished"


# -- replay and resume of a run steered three times --------------------------------------------
THREE = [
    *EVERY_STEP,
    "epochs=2",
    "freeze.enabled=true",
    "freeze.epochs=2",
    "freeze.batch_size=32",
]
PLAN = {5: ["lr=*0.5"], 20: ["unfreeze"], 40: ["epochs=3"]}


@pytest.fixture(scope="module")
def steered(tmp_path_factory) -> tuple[Steer, Path]:
    out = tmp_path_factory.mktemp("steered")
    finished, sink, run_dir = steered_run(out, THREE, PLAN)
    assert finished.status == "completed" and all(v is None for v in sink.refused.values())
    return sink, run_dir


def test_replay_reproduces_a_run_steered_three_times_bitwise(steered, tmp_path: Path) -> None:
    sink, run_dir = steered
    assert [(s["step"], s["change"]) for s in saved_steering(run_dir)] == [
        (5, "lr=*0.5"),
        (20, "unfreeze"),
        (40, "epochs=3"),
    ]
    config, name = load_config(run_dir / "config.yaml", [f"out={tmp_path}"])
    replayed = Recorder()
    assert execute(config, name, sinks=[replayed], control=Control()).status == "completed"
    losses = {e.global_step: e.loss for e in replayed.of(StepProgress)}
    assert losses == sink.loss  # every step, bitwise
    assert [(e.global_step, e.change, e.source) for e in replayed.of(Steered)] == [
        (5, "lr=*0.5", "scheduled"),
        (20, "unfreeze", "scheduled"),
        (40, "epochs=3", "scheduled"),
    ]
    assert len(records(only_run_dir(tmp_path), "epoch")) == 3
    assert saved_steering(only_run_dir(tmp_path)) == saved_steering(run_dir)  # nothing added


def test_resume_keeps_the_steering(steered, tmp_path: Path) -> None:
    whole, _ = steered
    first = steered_run(tmp_path, THREE, PLAN, stop_at=42)
    assert first[0].status == "interrupted"
    run_dir = first[2]
    config, name = load_config(run_dir / "config.yaml", [])  # what --resume RUN_DIR uses
    second = Recorder()
    resumed = execute(config, name, sinks=[second], control=Control(), resume=run_dir)
    assert resumed.status == "completed"
    losses = {e.global_step: e.loss for e in second.of(StepProgress)}
    assert min(losses) == 43
    assert {**first[1].loss, **losses} == whole.loss
    assert not second.of(Steered)  # nothing applied twice
    assert len(records(run_dir, "epoch")) == 3
    assert any(
        "epoch 1/3 at batch 42" in m for m in second.messages() if m.startswith("resumed from")
    )


def test_a_scheduled_change_in_a_preset_and_its_errors(tmp_path: Path, capsys) -> None:
    preset = tmp_path / "p.yaml"
    preset.write_text("steering:\n  - {step: 4, change: 'lr=0.002'}\n")
    config, name = load_config(str(preset), [*CONSTANT, f"out={tmp_path / 'runs'}"])
    rec = Recorder()
    execute(config, name, sinks=[rec], control=Control())
    lrs = {e.global_step: e.lr for e in rec.of(StepProgress)}
    assert lrs[4] == config.optim.lr and lrs[5] == pytest.approx(0.002)
    for text, expected in (
        ("- {step: 4, change: 'lr=-1'}", "steering.0.change: lr: expected a finite number > 0"),
        ("- {step: 0, change: unfreeze}", "steering.0.step"),
        ("- {step: 4, change: unfreeze}", "unfreeze needs a frozen backbone"),
        ("- {step: 4, change: 'momentum=1'}", "steering.0.change: expected lr=VALUE"),
        ("- {step: 9, change: validate}\n  - {step: 4, change: validate}", "in step order"),
        ("- {step: 4, change: validate, when: now}", "steering.0.when: unknown key"),
    ):
        preset.write_text(f"steering:\n  {text}\n")
        assert main(["check", str(preset)]) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and expected in err and str(preset) in err, err


def test_lr_schedule_changes_are_continuous_and_compose() -> None:
    from tui_trainer.config.schema import SchedulerConfig
    from tui_trainer.engine.lr_schedule import LRSchedule

    for name in ("cosine", "onecycle"):
        s = LRSchedule(SchedulerConfig(name=name), 0.1, 10)
        before = [s.lr_at(t / 10) for t in range(101)]
        s.set_epochs(3.0, 20)
        assert [s.lr_at(t / 10) for t in range(31)] == before[:31]
        assert s.lr_at(3.0) == before[30] and s.lr_at(20.0) == pytest.approx(before[-1])
        assert abs(s.lr_at(3.01) - s.lr_at(3.0)) < 1e-3
        s.scale_from(5.0, 0.5)
        assert s.lr_at(5.0) == pytest.approx(0.5 * s._through(5.0, 1))
        state = s.state_dict()
        again = LRSchedule(SchedulerConfig(name=name), 0.1, 10)
        again.load_state_dict(state)
        assert [again.lr_at(t / 7) for t in range(141)] == [s.lr_at(t / 7) for t in range(141)]
        assert again.epochs == 20
    step = LRSchedule(SchedulerConfig(name="multistep", milestones=[2, 12]), 0.1, 10)
    step.set_epochs(5.0, 15)  # a milestone beyond the old end now applies, at its epoch
    assert step.lr_at(11.9) == pytest.approx(0.01) and step.lr_at(12.0) == pytest.approx(0.001)
    assert math.isclose(step.lr_at(1.0), 0.1)
