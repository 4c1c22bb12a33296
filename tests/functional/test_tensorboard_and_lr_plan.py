"""The engine's planned LR in metrics.jsonl, and TensorBoard event files read back by
TensorBoard's own reader (skipped when the optional extra is absent)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
from support.runs import TINY, epoch_lines, only_run_dir

from tui_trainer.cli import main


def records(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


def test_lr_plan_is_the_schedule_the_run_applies(tmp_path: Path) -> None:
    out = tmp_path / "runs"
    assert main(["run", "quickstart", *TINY, "--out", str(out)]) == 0
    recs = records(only_run_dir(out))
    plans = [r for r in recs if r["event"] == "lr_plan"]
    assert len(plans) == 1 and plans[0]["reason"] == "start"
    xs, lrs = np.array(plans[0]["points"]).T
    assert len(xs) == 300 and xs[0] == 0.0 and xs[-1] == 2.0
    assert lrs[0] < lrs.max() == pytest.approx(0.05, rel=1e-3)  # warm-up, then cosine down
    steps = [r for r in recs if r["event"] == "step"]
    assert len(steps) > 5
    for s in steps:  # the LR applied at the step's last optimizer step lies on the plan
        x = s["epoch"] - 1 + (s["step"] - 1) / s["steps"]
        assert s["lr"] == pytest.approx(float(np.interp(x, xs, lrs)), rel=2e-2, abs=1e-5)


def test_tensorboard_files_hold_step_loss_lr_and_epoch_metrics(tmp_path: Path) -> None:
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    out = tmp_path / "runs"
    assert main(["run", "quickstart", *TINY, "log.tensorboard=true", "--out", str(out)]) == 0
    run_dir = only_run_dir(out)
    assert list(run_dir.glob("events.out.tfevents.*"))
    acc = EventAccumulator(str(run_dir))
    acc.Reload()
    tags = set(acc.Tags()["scalars"])
    assert {"train/loss", "train/lr", "epoch/val_accuracy", "epoch/val_loss"} <= tags
    epochs = epoch_lines(run_dir)
    val_acc = acc.Scalars("epoch/val_accuracy")
    assert [e.step for e in val_acc] == [1, 2]
    assert [e.value for e in val_acc] == pytest.approx([e["val_accuracy"] for e in epochs])
    steps = [r for r in records(run_dir) if r["event"] == "step"]
    losses = acc.Scalars("train/loss")
    assert [e.step for e in losses] == [s["global_step"] for s in steps]
    assert [e.value for e in losses] == pytest.approx([s["loss"] for s in steps], rel=1e-6)


def test_missing_tensorboard_extra_is_one_line_exit_2_nothing_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in [m for m in sys.modules if m.split(".")[0] == "tensorboard"] + ["tensorboard"]:
        monkeypatch.setitem(sys.modules, name, None)  # any tensorboard import -> ImportError
    out = tmp_path / "runs"
    assert main(["run", "quickstart", *TINY, "log.tensorboard=true", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "log.tensorboard" in err and 'pip install "tui-trainer[tensorboard]"' in err
    assert not out.exists()
