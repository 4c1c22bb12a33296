"""The next toggles through whole (tiny) runs: their effect on training, checkpoints, resume,
summary and config.yaml."""

from __future__ import annotations

import json
import math

import pytest
import torch
import yaml
from support.runs import TINY, epoch_lines, only_run_dir
from test_resume import HARD, StepLosses

from tui_trainer.config import load_config
from tui_trainer.runlog.control import Control, StopMode
from tui_trainer.runlog.events import LogMessage, StepProgress
from tui_trainer.session import execute

PLAIN_SGD = [
    "optim.momentum=0",
    "optim.weight_decay=0",
    "scheduler.name=none",
    "scheduler.warmup_epochs=0",
]


def run(tmp_path, overrides, name="t", sinks=None, control=None, resume=None):
    out = tmp_path / name
    config, preset = load_config("quickstart", [*TINY, *overrides, f"out={out}"])
    finished = execute(
        config, preset, sinks=sinks or [], control=control or Control(), resume=resume
    )
    return finished, only_run_dir(out)


def ckpt(run_dir, name="last.pt"):
    return torch.load(run_dir / "checkpoints" / name, weights_only=True)


def distance(a, b):
    """The Euclidean distance between two state dicts' parameters (BatchNorm statistics aside)."""
    keys = [k for k in a if a[k].is_floating_point() and "running_" not in k]
    return float(torch.sqrt(sum(((a[k] - b[k]) ** 2).sum() for k in keys)))


def step_lines(run_dir):
    lines = map(json.loads, (run_dir / "metrics.jsonl").read_text().splitlines())
    return [r for r in lines if r["event"] == "step"]


# -- gradient clipping -------------------------------------------------------------------------
def test_clip_norm_bounds_every_update_and_reports_the_pre_clip_norm(tmp_path):
    """Plain SGD moves the weights by lr × the clipped gradient, whose norm is exactly the bound
    when the true norm is above it: one step moves them by lr × bound, unclipped much further."""
    lr, bound = 0.05, 0.01
    common = [*PLAIN_SGD, f"optim.lr={lr}", "epochs=1", "checkpoint.every_steps=1"]
    _, clipped = run(tmp_path, [*common, f"optim.clip_grad_norm={bound}"], name="c")
    _, free = run(tmp_path, common, name="f")
    one_step = distance(
        ckpt(clipped, "step_00000022.pt")["model"], ckpt(clipped, "step_00000021.pt")["model"]
    )
    assert one_step == pytest.approx(lr * bound, rel=1e-3)
    free_step = distance(
        ckpt(free, "step_00000022.pt")["model"], ckpt(free, "step_00000021.pt")["model"]
    )
    assert free_step > 5 * one_step
    norms = [r["grad_norm"] for r in step_lines(clipped)]
    assert norms and all(n > bound for n in norms)  # the pre-clip norm, not the bound
    assert all(r["grad_norm"] is None for r in step_lines(free))


def test_clip_value_keeps_training(tmp_path):
    finished, run_dir = run(tmp_path, ["optim.clip_grad_value=0.05", "epochs=2"])
    assert finished.status == "completed"
    lines = epoch_lines(run_dir)
    assert lines[-1]["train_loss"] < lines[0]["train_loss"]


# -- early stopping ----------------------------------------------------------------------------
NEVER_BETTER = ["epochs=6", "early_stop.patience=2", "early_stop.min_delta=1.0"]


def test_early_stop_ends_completed_at_the_expected_epoch_and_says_why(tmp_path):
    """No epoch can beat the first by more than 1.0 accuracy: epochs 2 and 3 wait, then stop."""
    logs = []

    def sink(e):
        if isinstance(e, LogMessage):
            logs.append(e.message)

    finished, run_dir = run(tmp_path, NEVER_BETTER, sinks=[sink])
    assert finished.status == "completed"
    assert finished.summary["epochs_completed"] == 3
    assert len(epoch_lines(run_dir)) == 3
    stop = finished.summary["early_stop"]
    assert (stop["metric"], stop["best_epoch"], stop["waited"]) == ("val_accuracy", 1, 2)
    line = next(m for m in logs if m.startswith("early stop:"))
    assert "val_accuracy has not improved by more than 1 for 2 epoch(s)" in line
    assert "stopping after epoch 3 of 6" in line
    assert json.loads((run_dir / "summary.json").read_text())["status"] == "completed"


def test_early_stop_decides_the_same_after_a_resume(tmp_path):
    control = Control()

    def stopper(e):
        if isinstance(e, StepProgress) and e.epoch == 2:
            control.request_stop(StopMode.EPOCH)

    first, run_dir = run(
        tmp_path, [*NEVER_BETTER, "progress.interval=1e-9"], sinks=[stopper], control=control
    )
    assert first.status == "stopped" and first.summary["epochs_completed"] == 2
    assert "early_stop" not in first.summary
    config, preset = load_config("quickstart", [*TINY, *NEVER_BETTER, f"out={tmp_path / 't'}"])
    resumed = execute(config, preset, sinks=[], control=Control(), resume=run_dir)
    assert resumed.status == "completed"
    assert resumed.summary["epochs_completed"] == 3  # the history from before counts
    assert resumed.summary["early_stop"]["best_epoch"] == 1


# -- EMA ---------------------------------------------------------------------------------------
EMA = ["ema.enabled=true", "ema.decay=0.9", "ema.warmup_steps=0"]


def test_ema_is_what_validation_and_best_pt_use_and_last_pt_holds_both(tmp_path):
    with_ema, ema_dir = run(tmp_path, [*EMA, "epochs=1"], name="e")
    plain, plain_dir = run(tmp_path, ["epochs=1"], name="p")
    last, best = ckpt(ema_dir), ckpt(ema_dir, "best.pt")
    # Training itself is untouched by EMA: the live weights equal a plain run's, bit for bit.
    for key, value in ckpt(plain_dir)["model"].items():
        assert torch.equal(last["model"][key], value), key
    assert last["ema"]["updates"] == with_ema.summary["global_step"]
    # best.pt: the evaluated (EMA) weights as "model", the trained ones beside them.
    assert best["weights"] == "ema"
    for key, value in last["ema"]["module"].items():
        assert torch.equal(best["model"][key], value), key
        assert torch.equal(best["live_model"][key], last["model"][key]), key
    assert distance(best["model"], best["live_model"]) > 1e-3
    # The epoch metrics are the EMA weights' (they differ from the live weights' metrics).
    assert epoch_lines(ema_dir)[0]["val_loss"] != epoch_lines(plain_dir)[0]["val_loss"]
    assert with_ema.summary["evaluated_weights"] == "ema"
    assert plain.summary["evaluated_weights"] == "live"


def test_ema_resume_is_bitwise_exact(tmp_path):
    hard = [o for o in HARD if not o.startswith("out=")]
    config, name = load_config("quickstart", [*hard, *EMA, f"out={tmp_path / 'a'}"])
    whole = StepLosses()
    execute(config, name, sinks=[whole], control=Control())
    config, name = load_config("quickstart", [*hard, *EMA, f"out={tmp_path / 'b'}"])
    control = Control()
    first = StepLosses(control, stop_at=30)
    assert execute(config, name, sinks=[first], control=control).status == "interrupted"
    run_dir = only_run_dir(tmp_path / "b")
    second = StepLosses()
    execute(config, name, sinks=[second], control=Control(), resume=run_dir)
    assert {**first.losses, **second.losses} == whole.losses
    a, b = ckpt(only_run_dir(tmp_path / "a")), ckpt(run_dir)
    assert a["ema"]["updates"] == b["ema"]["updates"]
    for key, value in a["ema"]["module"].items():
        assert torch.equal(value, b["ema"]["module"][key]), key
    va = [h["val_loss"] for h in a["progress"]["history"]]
    vb = [h["val_loss"] for h in b["progress"]["history"]]
    assert va == vb  # the EMA-evaluated metrics too


def test_resume_from_best_pt_continues_the_live_weights(tmp_path):
    _, run_dir = run(tmp_path, [*EMA, "epochs=1"])
    config, preset = load_config("quickstart", [*TINY, *EMA, "epochs=2", f"out={tmp_path / 'x'}"])
    events = []
    execute(
        config,
        preset,
        sinks=[events.append],
        control=Control(),
        resume=run_dir / "checkpoints" / "best.pt",
    )
    first = next(e for e in events if isinstance(e, StepProgress))
    assert first.epoch == 2 and first.global_step > 0


# -- Mixup / CutMix ----------------------------------------------------------------------------
def test_mixup_and_cutmix_train_with_soft_targets_and_a_sensible_train_accuracy(tmp_path):
    mixed, mixed_dir = run(
        tmp_path,
        ["epochs=3", "data.augment.mixup.prob=0.5", "data.augment.cutmix.prob=0.5"],
        name="m",
    )
    _, plain_dir = run(tmp_path, ["epochs=3"], name="p")
    m, p = epoch_lines(mixed_dir), epoch_lines(plain_dir)
    assert mixed.status == "completed"
    # Soft targets cannot be fitted to zero loss: the mixed run's train loss stays higher.
    assert m[-1]["train_loss"] > p[-1]["train_loss"]
    # Accuracy against each sample's dominant label: a fraction that rises as the model learns.
    assert 0.0 < m[0]["train_accuracy"] < m[-1]["train_accuracy"] <= 1.0
    assert m[-1]["val_accuracy"] > m[0]["val_accuracy"]


# -- speed -------------------------------------------------------------------------------------
def test_channels_last_trains_the_same_in_nhwc(tmp_path):
    _, cl_dir = run(tmp_path, ["channels_last=true", "epochs=1"], name="cl")
    _, plain_dir = run(tmp_path, ["epochs=1"], name="p")
    weights = ckpt(cl_dir)["model"]
    convs = [v for v in weights.values() if v.dim() == 4]
    assert convs and all(v.is_contiguous(memory_format=torch.channels_last) for v in convs)
    a, b = epoch_lines(cl_dir)[0], epoch_lines(plain_dir)[0]
    assert a["train_loss"] == pytest.approx(b["train_loss"], rel=1e-4)
    assert a["val_loss"] == pytest.approx(b["val_loss"], rel=1e-4)


def test_compile_failure_falls_back_to_eager_once_and_is_recorded(tmp_path, monkeypatch):
    def broken(module, mode):
        def call(*_a, **_k):
            raise RuntimeError("no working C++ compiler (pretend)")

        return call

    monkeypatch.setattr(torch, "compile", broken)
    warnings = []

    def sink(e):
        if isinstance(e, LogMessage) and e.level == "warning":
            warnings.append(e.message)

    finished, run_dir = run(tmp_path, ["compile=true", "epochs=1"], sinks=[sink])
    assert finished.status == "completed"
    compile_warnings = [w for w in warnings if w.startswith("compile:")]
    assert compile_warnings == [
        "compile: torch.compile failed, running eager: RuntimeError: no working C++ compiler "
        "(pretend)"
    ]
    saved = yaml.safe_load((run_dir / "config.yaml").read_text())
    assert saved["compile"] is True and compile_warnings[0] in saved["notes"]
    assert finished.summary["compile"].startswith("eager (torch.compile failed")


@pytest.mark.slow
def test_compile_on_cpu_trains_like_eager(tmp_path):
    """A real torch.compile (inductor, gcc) on CPU: same losses within float tolerance."""
    small = ["epochs=1", "data.batch_size=128"]
    compiled, c_dir = run(tmp_path, [*small, "compile=true"], name="c")
    _, e_dir = run(tmp_path, small, name="e")
    assert compiled.summary["compile"] == "compiled"
    a, b = epoch_lines(c_dir)[0], epoch_lines(e_dir)[0]
    assert a["train_loss"] == pytest.approx(b["train_loss"], rel=1e-3)
    assert a["val_loss"] == pytest.approx(b["val_loss"], rel=1e-3)


def test_plain_console_lines_show_the_pre_clip_norm(tmp_path, capsys):
    from tui_trainer.cli import main

    args = ["optim.clip_grad_norm=1", "epochs=1", "progress.plain_interval=0.01"]
    assert main(["run", "quickstart", *TINY, *args, "--out", str(tmp_path)]) == 0
    lines = [line for line in capsys.readouterr().out.splitlines() if " step " in line]
    assert lines and all("grad norm " in line for line in lines)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_fp16_run_with_clip_ema_mixing_and_channels_last_on_cuda(tmp_path):
    overrides = [
        "device=cuda",
        "precision=fp16",
        "epochs=2",
        "optim.clip_grad_norm=1.0",
        *EMA,
        "data.augment.mixup.prob=0.5",
        "channels_last=true",
        "tf32=true",
    ]
    finished, run_dir = run(tmp_path, overrides)
    assert finished.status == "completed" and finished.summary["precision"] == "fp16"
    assert finished.summary["evaluated_weights"] == "ema"
    finite = [r["grad_norm"] for r in step_lines(run_dir) if math.isfinite(r["grad_norm"])]
    assert finite  # (an overflowing early step, skipped by GradScaler, reports inf)
    assert max(finite) < 1e3  # the unscaled norm, not the one scaled by 2**16
    assert ckpt(run_dir)["scaler"]  # GradScaler state saved for resume
