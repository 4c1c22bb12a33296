"""Exact resume, retention and bad checkpoints."""

from __future__ import annotations

import json

import pytest
import torch
from support.runs import TINY, StepLosses, only_run_dir

from tui_trainer.cli import main
from tui_trainer.config import load_config
from tui_trainer.engine.checkpoint import FORMAT_VERSION
from tui_trainer.runlog.control import Control
from tui_trainer.session import execute

# Every feature whose state a resume must restore: augmentation RNG, accumulation, a schedule
# with warm-up, a two-phase freeze, momentum and weight decay.
HARD = [
    *TINY,
    "epochs=3",
    "progress.interval=1e-9",
    "accumulate=2",
    "data.batch_size=32",
    "data.augment.hflip=true",
    "data.augment.crop_padding=1",
    "scheduler.name=cosine",
    "scheduler.warmup_epochs=1",
    "freeze.enabled=true",
    "freeze.epochs=1",
    "freeze.batch_size=64",
    "optim.weight_decay=0.001",
]


@pytest.mark.parametrize("stop_at", [7, 40])  # inside the frozen phase, and after unfreezing
def test_mid_epoch_resume_matches_an_uninterrupted_run(tmp_path, stop_at):
    config, name = load_config("quickstart", [*HARD, f"out={tmp_path / 'a'}"])
    whole = StepLosses()
    execute(config, name, sinks=[whole], control=Control())

    config, name = load_config("quickstart", [*HARD, f"out={tmp_path / 'b'}"])
    control = Control()
    first = StepLosses(control, stop_at=stop_at)
    stopped = execute(config, name, sinks=[first], control=control)
    assert stopped.status == "interrupted"
    run_dir = only_run_dir(tmp_path / "b")
    second = StepLosses()
    resumed = execute(config, name, sinks=[second], control=Control(), resume=run_dir)
    assert resumed.status == "completed"
    assert only_run_dir(tmp_path / "b") == run_dir  # the same run directory continues

    assert max(first.losses) == stop_at and min(second.losses) == stop_at + 1
    assert {**first.losses, **second.losses} == whole.losses  # every step's loss, exactly
    a = torch.load(only_run_dir(tmp_path / "a") / "checkpoints" / "last.pt", weights_only=True)
    b = torch.load(run_dir / "checkpoints" / "last.pt", weights_only=True)
    for key, value in a["model"].items():
        assert torch.equal(value, b["model"][key]), key
    assert a["progress"]["history"] == [
        {**h, "epoch_seconds": a["progress"]["history"][i]["epoch_seconds"]}
        for i, h in enumerate(b["progress"]["history"])
    ]
    assert any(m.startswith("resumed from ") and "RNG states" in m for m in second.logs)


def test_resume_from_the_command_line_continues_and_extends(tmp_path, capsys):
    out = tmp_path / "runs"
    assert main(["run", "quickstart", *TINY, "--out", str(out)]) == 0
    run_dir = only_run_dir(out)
    assert main(["run", "--resume", str(run_dir), "epochs=3"]) == 0
    printed = capsys.readouterr().out
    assert "resumed from" in printed and "epoch 3/3" in printed
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["epochs_completed"] == 3
    lines = (run_dir / "metrics.csv").read_text().splitlines()
    assert len(lines) == 1 + 3  # header + all three epochs, across both processes


def test_retention_keeps_the_newest_periodic_checkpoints(tmp_path):
    config, name = load_config(
        "quickstart", [*TINY, "checkpoint.every_steps=5", "checkpoint.keep=2", f"out={tmp_path}"]
    )
    execute(config, name, sinks=[], control=Control())
    ckpts = only_run_dir(tmp_path) / "checkpoints"
    periodic = sorted(p.name for p in ckpts.glob("step_*.pt"))
    assert periodic == ["step_00000040.pt", "step_00000045.pt"]  # 2 epochs x 23 steps
    assert (ckpts / "last.pt").is_file() and (ckpts / "best.pt").is_file()


def test_the_checkpoint_resumed_from_is_not_deleted(tmp_path):
    config, name = load_config(
        "quickstart",
        [*TINY, "epochs=1", "checkpoint.every_steps=5", "checkpoint.keep=1", f"out={tmp_path}"],
    )
    execute(config, name, sinks=[], control=Control())
    ckpts = only_run_dir(tmp_path) / "checkpoints"
    source = ckpts / "step_00000020.pt"
    assert source.is_file()
    config, _ = load_config(
        "quickstart",
        [*TINY, "epochs=2", "checkpoint.every_steps=5", "checkpoint.keep=1", f"out={tmp_path}"],
    )
    execute(config, name, sinks=[], control=Control(), resume=source)
    assert source.is_file()
    assert (ckpts / "step_00000045.pt").is_file()


def _finished_run(tmp_path):
    out = tmp_path / "runs"
    assert main(["run", "quickstart", *TINY, "epochs=1", "--out", str(out)]) == 0
    return only_run_dir(out) / "checkpoints" / "last.pt"


def test_truncated_checkpoint(tmp_path, capsys):
    last = _finished_run(tmp_path)
    data = last.read_bytes()
    last.write_bytes(data[: len(data) // 2])
    assert main(["run", "quickstart", "--resume", str(last)]) == 2
    assert "not a readable checkpoint" in capsys.readouterr().err


def test_checkpoint_of_another_architecture_lists_the_keys(tmp_path, capsys):
    last = _finished_run(tmp_path)
    capsys.readouterr()
    rc = main(
        [
            "run",
            "quickstart",
            *TINY,
            "model.kwargs={}",
            "--resume",
            str(last),
            "--out",
            str(tmp_path / "other"),
        ]
    )
    err = capsys.readouterr().err.strip()
    assert rc == 2 and len(err.splitlines()) == 1
    assert (
        "another architecture" in err and "features.0.weight (16, 1, 5, 5) vs (6, 1, 5, 5)" in err
    )
    assert not (tmp_path / "other").exists()


def test_checkpoint_from_a_newer_format(tmp_path, capsys):
    last = _finished_run(tmp_path)
    state = torch.load(last, weights_only=True)
    state["version"] = FORMAT_VERSION + 1
    torch.save(state, last)
    assert main(["run", "quickstart", "--resume", str(last)]) == 2
    assert "upgrade tui-trainer" in capsys.readouterr().err


def test_a_file_that_is_not_ours(tmp_path, capsys):
    path = tmp_path / "weights.pt"
    torch.save({"a": torch.zeros(1)}, path)
    assert main(["run", "quickstart", "--resume", str(path)]) == 2
    assert "not a tui-trainer checkpoint" in capsys.readouterr().err
