"""Headless runs: accuracy reached, the run directory, replay, exit codes, control, signals."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
import threading
from pathlib import Path

import torch
import yaml
from support.runs import TINY, Recorder, epoch_lines, only_run_dir

from tui_trainer.cli import main
from tui_trainer.config import load_config
from tui_trainer.runlog.control import Control, StopMode
from tui_trainer.runlog.events import CheckpointSaved, EpochEnd, Paused, Resumed, StepProgress
from tui_trainer.session import execute
from tui_trainer.sinks.console import ConsoleSink

ROOT = Path(__file__).resolve().parents[2]


def test_quickstart_reaches_95_percent_and_writes_a_complete_run_dir(tmp_path, capsys):
    out = tmp_path / "runs"
    assert main(["run", "quickstart", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    run_dir = only_run_dir(out)
    assert run_dir.parent.name == "quickstart"
    assert f"replay: tui-trainer replay {run_dir}" in printed
    assert "per-class report" in printed and "precision    recall  f1-score" in printed

    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["status"] == "completed"
    assert summary["epochs_completed"] == 12
    assert summary["best"]["metric"] == "val_accuracy"
    assert summary["best"]["value"] >= 0.95
    assert summary["final"]["val_accuracy"] >= 0.95
    assert summary["samples_per_second"] > 0 and summary["wall_seconds"] > 0

    epochs = epoch_lines(run_dir)
    assert [e["epoch"] for e in epochs] == list(range(1, 13))
    for e in epochs:
        assert {"train_loss", "val_loss", "lr", "val_accuracy"} <= set(e)
    assert epochs[-1]["train_loss"] < epochs[0]["train_loss"] / 10  # the loss fell

    rows = list(csv.DictReader(io.StringIO((run_dir / "metrics.csv").read_text())))
    assert len(rows) == 12 and float(rows[-1]["val_accuracy"]) == epochs[-1]["val_accuracy"]

    config = yaml.safe_load((run_dir / "config.yaml").read_text())
    assert config["data"]["name"] == "digits" and config["epochs"] == 12

    for name in ("last.pt", "best.pt"):
        state = torch.load(run_dir / "checkpoints" / name, weights_only=True)
        assert state["format"] == "tui-trainer-checkpoint"
    best = torch.load(run_dir / "checkpoints" / "best.pt", weights_only=True)
    assert best["progress"]["best_epoch"] == summary["best"]["epoch"]


def test_replay_reproduces_the_losses(tmp_path):
    out = tmp_path / "runs"
    overrides = [
        *TINY,
        "epochs=3",
        "accumulate=2",
        "data.augment.hflip=true",
        "data.augment.crop_padding=1",
    ]
    assert main(["run", "quickstart", *overrides, "--out", str(out)]) == 0
    first = only_run_dir(out)
    assert main(["replay", str(first), "--out", str(tmp_path / "replay")]) == 0
    second = only_run_dir(tmp_path / "replay")
    keys = ("train_loss", "val_loss", "val_accuracy", "lr")
    assert [[e[k] for k in keys] for e in epoch_lines(first)] == [
        [e[k] for k in keys] for e in epoch_lines(second)
    ]


def test_plain_lines_when_not_a_tty(tmp_path):
    stream = io.StringIO()
    sink = ConsoleSink(stream, tty=False)
    config, name = load_config(
        "quickstart", [*TINY, "progress.plain_interval=0.0001", f"out={tmp_path}"]
    )
    execute(config, name, sinks=[sink], control=Control())
    text = stream.getvalue()
    assert "\r" not in text and "\x1b" not in text  # no bar redraws in logs
    assert "epoch 1/2  step " in text and "samples/s" in text and "eta " in text
    assert "epoch 2/2  train_loss" in text
    assert "run completed: 2 epoch(s)" in text


def test_tqdm_bar_on_a_tty(tmp_path):
    class FakeTTY(io.StringIO):
        def isatty(self) -> bool:
            return True

    stream = FakeTTY()
    config, name = load_config("quickstart", [*TINY, f"out={tmp_path}"])
    execute(config, name, sinks=[ConsoleSink(stream)], control=Control())
    text = stream.getvalue()
    assert "\r" in text and "epoch 1/2:" in text and "it/s" in text and "loss=" in text


def test_non_finite_loss_fails_with_exit_1(tmp_path, capsys):
    out = tmp_path / "runs"
    rc = main(
        [
            "run",
            "quickstart",
            *TINY,
            "optim.lr=1e12",
            "scheduler.warmup_epochs=0",
            "--out",
            str(out),
        ]
    )
    assert rc == 1
    summary = json.loads((only_run_dir(out) / "summary.json").read_text())
    assert summary["status"] == "failed"
    assert "non-finite" in summary["error"]
    assert "error: NonFiniteLoss" in capsys.readouterr().out


class Script(Recorder):
    """A recording sink that pulls control levers when the run reaches given progress."""

    def __init__(self, control: Control, action) -> None:
        super().__init__()
        self.control, self.action, self.done = control, action, False

    def __call__(self, event) -> None:
        super().__call__(event)
        if isinstance(event, StepProgress) and not self.done:
            self.done = True
            self.action(self.control)


def _controlled(tmp_path, action, overrides=()):
    control = Control()
    script = Script(control, action)
    config, name = load_config("quickstart", [*TINY, *overrides, f"out={tmp_path}"])
    finished = execute(config, name, sinks=[script], control=control)
    return finished, script.events, only_run_dir(tmp_path)


def test_checkpoint_now(tmp_path):
    finished, events, run_dir = _controlled(tmp_path, Control.request_checkpoint)
    saved = [e for e in events if isinstance(e, CheckpointSaved) and e.reason == "request"]
    assert len(saved) == 1 and saved[0].path == str(run_dir / "checkpoints" / "last.pt")
    assert finished.status == "completed"


def test_stop_after_this_epoch(tmp_path):
    finished, _, run_dir = _controlled(tmp_path, lambda c: c.request_stop(StopMode.EPOCH))
    assert finished.status == "stopped"
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["status"] == "stopped" and summary["epochs_completed"] == 1
    assert len(epoch_lines(run_dir)) == 1


def test_stop_at_step_saves_mid_epoch_position(tmp_path):
    finished, _, run_dir = _controlled(tmp_path, lambda c: c.request_stop(StopMode.STEP))
    assert finished.status == "stopped" and finished.summary["epochs_completed"] == 0
    state = torch.load(run_dir / "checkpoints" / "last.pt", weights_only=True)
    assert 0 < state["progress"]["batch"] < 23 and state["progress"]["epoch"] == 0


def test_pause_stops_the_clock(tmp_path):
    def pause(control: Control) -> None:
        control.pause()
        threading.Timer(0.5, control.resume).start()

    finished, events, _ = _controlled(tmp_path, pause, ["epochs=1"])
    kinds = [type(e) for e in events]
    assert Paused in kinds and Resumed in kinds
    assert kinds.index(Paused) < kinds.index(Resumed)
    assert finished.summary["wall_seconds"] - finished.summary["train_seconds"] >= 0.45
    epoch_end = next(e for e in events if isinstance(e, EpochEnd))
    assert epoch_end.seconds <= finished.summary["wall_seconds"] - 0.45  # the pause is off it


def test_python_m_is_the_same_command():
    result = subprocess.run(
        [sys.executable, "-m", "tui_trainer", "presets"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )
    assert result.returncode == 0 and "quickstart" in result.stdout


def test_a_finished_run_leaves_no_socket_pointer_once_it_has_returned(tmp_path):
    """The control socket is gone, pointer and all, before the run releases its directory: nothing
    of the run changes after `main` returns (another process may take the directory then)."""
    out = tmp_path / "runs"
    assert main(["run", "quickstart", *TINY, "epochs=1", "--out", str(out)]) == 0
    run_dir = only_run_dir(out)
    assert not (run_dir / ".endpoint").exists()
    assert not [t for t in threading.enumerate() if t.name == "tui-trainer-server"]
