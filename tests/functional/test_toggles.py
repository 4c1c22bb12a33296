"""Each toggle proves its effect: accumulation, scheduler, freeze, precision."""

from __future__ import annotations

import math

import pytest
import torch
import yaml
from support.runs import epoch_lines, run_preset

from tui_trainer.config.schema import SchedulerConfig
from tui_trainer.engine.lr_schedule import LRSchedule
from tui_trainer.engine.tasks.classification.models import SmallCNN
from tui_trainer.runlog.events import LogMessage


def run(tmp_path, overrides, sinks=None, name="t"):
    return run_preset(tmp_path / name, overrides, sinks=sinks)


def load(run_dir, name="last.pt"):
    return torch.load(run_dir / "checkpoints" / name, weights_only=True)


# -- accumulation ------------------------------------------------------------------------------
def test_accumulation_equals_the_big_batch(tmp_path):
    """4 micro-batches of 16 (with a short, uneven last window) train like batches of 64."""
    common = [
        "epochs=1",
        "optim.momentum=0",
        "optim.weight_decay=0",
        "scheduler.name=cosine",
        "scheduler.warmup_epochs=0",
    ]
    small, small_dir = run(tmp_path, [*common, "data.batch_size=16", "accumulate=4"], name="a")
    big, big_dir = run(tmp_path, [*common, "data.batch_size=64", "accumulate=1"], name="b")
    # 1437 training samples: the last window holds micro-batches of 16 and 13 (29 samples).
    assert small.summary["global_step"] == big.summary["global_step"] == math.ceil(1437 / 64)
    a, b = load(small_dir)["model"], load(big_dir)["model"]
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=1e-4, atol=1e-5)
    assert epoch_lines(small_dir)[0]["lr"] == pytest.approx(epoch_lines(big_dir)[0]["lr"])


def test_one_window_gradient_matches_big_batch():
    """The scaling rule itself: sum of (n_i / N) * mean_i gradients == big-batch mean gradient."""
    torch.manual_seed(0)
    model = SmallCNN(10, 1, 8)
    x, y = torch.randn(45, 1, 8, 8), torch.randint(0, 10, (45,))
    loss_fn = torch.nn.CrossEntropyLoss()
    loss_fn(model(x), y).backward()
    big = [p.grad.clone() for p in model.parameters()]
    model.zero_grad()
    for chunk_x, chunk_y in zip(x.split(16), y.split(16), strict=True):  # 16, 16, 13
        (loss_fn(model(chunk_x), chunk_y) * (len(chunk_y) / 45)).backward()
    for g_big, p in zip(big, model.parameters(), strict=True):
        torch.testing.assert_close(p.grad, g_big, rtol=1e-5, atol=1e-6)


# -- scheduler ---------------------------------------------------------------------------------
def _torch_sequence(make, steps):
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)
    sched = make(opt)
    out = []
    for _ in range(steps):
        out.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return out


@pytest.mark.parametrize(
    ("cfg", "make"),
    [
        (
            dict(name="step", step_size=2, gamma=0.5),
            lambda o: torch.optim.lr_scheduler.StepLR(o, step_size=2 * 10, gamma=0.5),
        ),
        (
            dict(name="multistep", milestones=[1, 3], gamma=0.1),
            lambda o: torch.optim.lr_scheduler.MultiStepLR(o, milestones=[10, 30], gamma=0.1),
        ),
        (
            dict(name="cosine", min_lr=0.001),
            lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=50, eta_min=0.001),
        ),
    ],
    ids=["step", "multistep", "cosine"],
)
def test_schedule_matches_torch_per_optimizer_step(cfg, make):
    schedule = LRSchedule(SchedulerConfig(**cfg), 0.1, epochs=5)
    ours = [schedule.lr_at(step / 10) for step in range(50)]  # 10 optimizer steps per epoch
    torch.testing.assert_close(ours, _torch_sequence(make, 50), rtol=1e-6, atol=1e-9)


def test_plateau_matches_reduce_on_plateau():
    losses = [1.0, 0.9, 0.95, 0.93, 0.92, 0.91, 0.5, 0.6, 0.6, 0.6, 0.6]
    schedule = LRSchedule(SchedulerConfig(name="plateau", patience=2, factor=0.5), 0.1, 11)
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)
    ref = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, patience=2, factor=0.5)
    for loss in losses:
        schedule.epoch_end(loss)
        ref.step(loss)
        assert schedule.lr_at(0) == pytest.approx(opt.param_groups[0]["lr"])
    assert schedule.lr_at(0) < 0.1


def test_onecycle_and_warmup_shapes():
    one = LRSchedule(SchedulerConfig(name="onecycle", max_lr=1.0, pct_start=0.25), 0.1, 4)
    assert one.lr_at(0) == pytest.approx(1.0 / 25)
    assert one.lr_at(1.0) == pytest.approx(1.0)  # the peak at pct_start
    assert one.lr_at(4.0) == pytest.approx(1.0 / 25 / 1e4)
    warm = LRSchedule(
        SchedulerConfig(name="cosine", warmup_epochs=2, warmup_start_factor=0.1), 1.0, 10
    )
    assert warm.lr_at(0) == pytest.approx(0.1)
    assert warm.lr_at(1) == pytest.approx(0.55)
    assert warm.lr_at(2) == pytest.approx(1.0)
    assert warm.lr_at(10) == pytest.approx(0.0, abs=1e-9)


def test_reported_lr_is_the_applied_lr(tmp_path):
    _, run_dir = run(
        tmp_path,
        [
            "epochs=3",
            "scheduler.name=step",
            "scheduler.step_size=1",
            "scheduler.gamma=0.5",
            "scheduler.warmup_epochs=0",
        ],
    )
    assert [r["lr"] for r in epoch_lines(run_dir)] == pytest.approx([0.05, 0.025, 0.0125])


# -- freeze ------------------------------------------------------------------------------------
def test_two_phase_freeze(tmp_path):
    torch.manual_seed(1)
    start = SmallCNN(10, 1, 8, channels=(16, 32), hidden=(128, 64)).state_dict()
    weights = tmp_path / "init.pt"
    torch.save(start, weights)
    events = []
    finished, run_dir = run(
        tmp_path,
        [
            f"model.weights={weights}",
            "freeze.enabled=true",
            "freeze.epochs=1",
            "freeze.batch_size=128",
            "checkpoint.every_epochs=1",
            "optim.weight_decay=0.01",
        ],
        sinks=[events.append],
    )
    assert finished.status == "completed"
    after_frozen, after_all = load(run_dir, "epoch_0001.pt"), load(run_dir, "epoch_0002.pt")
    for key, value in start.items():
        if key.startswith("fc."):
            assert not torch.equal(after_frozen["model"][key], value), key
        else:
            assert torch.equal(after_frozen["model"][key], value), key  # frozen: untouched
            assert not torch.equal(after_all["model"][key], value), key  # then trained
    # Frozen phase ran at batch 128, then at the main batch size 64.
    assert after_frozen["progress"]["global_step"] == math.ceil(1437 / 128)
    assert after_all["progress"]["global_step"] == math.ceil(1437 / 128) + math.ceil(1437 / 64)
    logs = [e.message for e in events if isinstance(e, LogMessage)]
    assert any(m.startswith("backbone frozen: ") for m in logs)
    assert any("backbone unfrozen" in m for m in logs)


def test_frozen_batchnorm_stays_in_eval_mode(tmp_path):
    _finished, run_dir = run(
        tmp_path,
        [
            "model.name=support.tinymodels:TinyBN",
            "model.kwargs={}",
            "freeze.enabled=true",
            "epochs=1",
        ],
    )
    state = load(run_dir)["model"]
    assert torch.equal(state["backbone.1.running_mean"], torch.zeros(8))  # never updated
    assert torch.equal(state["backbone.1.running_var"], torch.ones(8))
    started = next(
        r
        for r in map(__import__("json").loads, (run_dir / "metrics.jsonl").read_text().splitlines())
        if r["event"] == "started"
    )
    assert started["trainable_params"] == 32 * 10 + 10
    assert started["total_params"] > started["trainable_params"]


# -- precision ---------------------------------------------------------------------------------
def test_bf16_learns_like_fp32(tmp_path):
    bf16, _ = run(tmp_path, ["precision=bf16", "epochs=6"], name="bf16")
    fp32, _ = run(tmp_path, ["precision=fp32", "epochs=6"], name="fp32")
    assert bf16.summary["precision"] == "bf16"
    assert bf16.summary["final"]["val_accuracy"] > 0.88
    assert bf16.summary["final"]["val_accuracy"] > fp32.summary["final"]["val_accuracy"] - 0.02
    assert bf16.summary["final"]["train_loss"] != fp32.summary["final"]["train_loss"]  # it ran bf16


def test_fp16_falls_back_on_cpu_and_says_so(tmp_path):
    events = []
    finished, run_dir = run(tmp_path, ["precision=fp16", "epochs=1"], sinks=[events.append])
    saved = yaml.safe_load((run_dir / "config.yaml").read_text())
    assert saved["precision"] == "fp32"
    assert any("fp16 needs CUDA" in n for n in saved["notes"])
    assert any(isinstance(e, LogMessage) and e.level == "warning" for e in events)
    assert finished.status == "completed"


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_fp16_with_gradscaler_on_cuda_matches_fp32(tmp_path):
    fp16, _ = run(tmp_path, ["device=cuda", "precision=fp16", "epochs=4"], name="h")
    fp32, _ = run(tmp_path, ["device=cuda", "precision=fp32", "epochs=4"], name="f")
    assert fp16.summary["precision"] == "fp16"
    assert fp16.summary["final"]["val_accuracy"] > fp32.summary["final"]["val_accuracy"] - 0.03
