"""Faults: non-finite losses, out of memory, disk trouble, a kill in the middle of a save."""

from __future__ import annotations

import errno
import json
import os
import random
import signal
import time

import pytest
import torch
import yaml
from support.runs import TINY, Recorder, epoch_lines, only_run_dir, run_preset

from tui_trainer.cli import main
from tui_trainer.engine import checkpoint as ckpt


def _run(tmp_path, overrides, sinks=None):
    return run_preset(tmp_path, overrides, sinks=sinks)


def test_nonfinite_skip_drops_the_step_and_carries_on(tmp_path, monkeypatch):
    calls = {"n": 0}
    real = torch.nn.CrossEntropyLoss.forward

    def sometimes_nan(self, logits, target):
        calls["n"] += 1
        loss = real(self, logits, target)
        return loss * float("nan") if calls["n"] in (3, 10) and self.training else loss

    monkeypatch.setattr(torch.nn.CrossEntropyLoss, "forward", sometimes_nan)
    logs = Recorder()
    finished, run_dir = _run(tmp_path, ["on_nonfinite=skip"], [logs])
    assert finished.status == "completed"
    assert finished.summary["nonfinite_skipped"] == 2
    assert all(
        torch.isfinite(v).all()
        for v in torch.load(run_dir / "checkpoints" / "last.pt", weights_only=True)[
            "model"
        ].values()
    )
    assert sum("optimizer step skipped" in m for m in logs.messages()) == 2
    assert all(e["train_loss"] == e["train_loss"] for e in epoch_lines(run_dir))  # not NaN


def test_nonfinite_skip_stops_after_too_many_in_a_row(tmp_path):
    finished, _ = _run(
        tmp_path,
        ["on_nonfinite=skip", "nonfinite_limit=3", "optim.lr=1e12", "scheduler.warmup_epochs=0"],
    )
    assert finished.status == "failed" and "3 non-finite losses in a row" in finished.error


def test_nonfinite_never_overwrites_a_good_checkpoint(tmp_path):
    out = tmp_path / "runs"
    assert main(["run", "quickstart", *TINY, "epochs=1", "--out", str(out)]) == 0
    run_dir = only_run_dir(out)
    last = run_dir / "checkpoints" / "last.pt"
    before = last.read_bytes()
    # Resume into a diverging learning rate: the run fails, last.pt stays the good one.
    rc = main(
        ["run", "--resume", str(run_dir), "epochs=3", "optim.lr=1e12", "scheduler.warmup_epochs=0"]
    )
    assert rc == 1
    assert last.read_bytes() == before
    assert json.loads((run_dir / "summary.json").read_text())["status"] == "failed"


OOM = [
    "model.name=support.tinymodels:OOMAbove",
    "model.kwargs={}",
    "model.kwargs.limit=16",
    "data.batch_size=32",
    "data.val_batch_size=16",
]


def test_out_of_memory_stops_with_the_numbers_to_try(tmp_path, capsys):
    out = tmp_path / "runs"
    assert main(["run", "quickstart", *TINY, *OOM, "--out", str(out)]) == 1
    summary = json.loads((only_run_dir(out) / "summary.json").read_text())
    assert summary["status"] == "failed"
    assert "data.batch_size=16 accumulate=2" in summary["error"]
    assert "effective batch of 32" in summary["error"]
    assert (only_run_dir(out) / "checkpoints" / "last.pt").is_file()  # what it had, saved


def test_out_of_memory_reduce_halves_the_batch_and_records_it(tmp_path):
    finished, run_dir = _run(tmp_path, [*OOM, "oom=reduce"])
    assert finished.status == "completed"
    saved = yaml.safe_load((run_dir / "config.yaml").read_text())
    assert (saved["data"]["batch_size"], saved["accumulate"]) == (16, 2)
    assert any("batch halved to 16" in note for note in saved["notes"])
    assert any("batch halved" in n for n in finished.summary["notes"])


def test_a_failed_checkpoint_write_is_reported_and_training_goes_on(tmp_path, monkeypatch):
    real = ckpt.atomic_save
    calls = {"n": 0}

    def flaky(obj, path):
        calls["n"] += 1
        if (
            calls["n"] > 1
        ):  # epoch 1's last.pt (best.pt links to it) succeeds, then the disk is full
            raise OSError(errno.ENOSPC, "No space left on device")
        real(obj, path)

    monkeypatch.setattr(ckpt, "atomic_save", flaky)
    logs = Recorder()
    finished, run_dir = _run(tmp_path, ["epochs=2"], [logs])
    assert finished.summary["epochs_completed"] == 2  # training went on
    # ...but the run's final weights are not on disk: it does not end as a success
    assert finished.status == "failed" and "checkpoints/last.pt" in finished.error
    warnings = logs.messages("warning")
    assert any("no space left on device (the previous one is intact)" in w for w in warnings)
    state = torch.load(run_dir / "checkpoints" / "last.pt", weights_only=True)
    assert state["progress"]["epoch"] == 1  # the previous checkpoint, intact


@pytest.mark.parametrize("iterations", [int(os.environ.get("TUI_TRAINER_KILL_ITERATIONS", 25))])
def test_sigkill_during_save_leaves_old_or_new_checkpoint(tmp_path, iterations):
    """A child saves two alternating states in a loop; SIGKILL it at random moments."""
    path = tmp_path / "last.pt"
    states = [{"format": "x", "w": torch.full((64, 1024), float(i))} for i in range(2)]
    ckpt.atomic_save(states[0], path)
    rng = random.Random(0)
    for _ in range(iterations):
        pid = os.fork()
        if pid == 0:  # child: save forever
            try:
                i = 0
                while True:
                    ckpt.atomic_save(states[i % 2], path)
                    i += 1
            finally:
                os._exit(0)
        time.sleep(rng.uniform(0.0, 0.03))
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        loaded = torch.load(path, weights_only=True)
        value = float(loaded["w"][0, 0])
        assert value in (0.0, 1.0) and torch.equal(loaded["w"], states[int(value)]["w"])
    leftovers = [p.name for p in tmp_path.iterdir() if p.name != "last.pt"]
    assert all(name.endswith(".tmp") for name in leftovers)  # only the killed writers' temps
