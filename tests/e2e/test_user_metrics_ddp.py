"""A user metric under DDP (torchrun, gloo on CPU): torchmetrics gathers each rank's shard of the
validation set, so 2 processes report the value one process gets for the same weights."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from support.runs import epoch_lines, only_run_dir
from support.user_loss_metrics import write_module

from tui_trainer.cli import main
from tui_trainer.launch import torchrun_command

ROOT = Path(__file__).resolve().parents[2]
F1 = "torchmetrics.classification:MulticlassF1Score"


def env_with(folder: Path) -> dict[str, str]:
    """The environment of a torchrun that imports the user's module from `folder`."""
    path = os.pathsep.join(
        filter(None, [str(folder), str(ROOT / "tests"), os.environ.get("PYTHONPATH")])
    )
    return {**os.environ, "PYTHONPATH": path, "OMP_NUM_THREADS": "1"}


@pytest.mark.slow
def test_a_two_process_user_metric_equals_one_process(tmp_path, capsys):
    folder = tmp_path / "usercode"
    folder.mkdir()
    mod = write_module(folder)
    common = ["epochs=2", "device=cpu", f"metrics=[{F1}, {mod}:ErrorRate, {mod}:Seen]"]
    out = tmp_path / "ddp"
    cmd = torchrun_command(2, ["run", "quickstart", *common, "data.batch_size=16", f"--out={out}"])
    proc = subprocess.run(
        cmd, cwd=ROOT, env=env_with(folder), capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    run_dir = only_run_dir(out)
    last = epoch_lines(run_dir)[-1]
    # gathered over both shards, as the built-in accuracy is (one rank's shard would differ)
    assert last["val_errorrate"] == pytest.approx(1 - last["val_accuracy"], abs=1e-6)
    assert last["val_seen"] == 360  # digits' validation split, both shards counted once
    # one process evaluating the same weights gets the same values
    assert main(["eval", str(run_dir), "--checkpoint", "last", "--json"]) == 0
    [folder] = sorted((run_dir / "eval").iterdir())
    metrics = json.loads((folder / "eval.json").read_text())["metrics"]
    for key in ("val_accuracy", "val_multiclassf1score", "val_errorrate"):
        assert metrics[key] == pytest.approx(last[key], abs=1e-6), (key, metrics, last)


@pytest.mark.slow
def test_segmentation_validates_the_whole_set_on_each_rank_so_metrics_are_not_gathered(
    tmp_path,
):
    folder = tmp_path / "usercode"
    folder.mkdir()
    mod = write_module(folder)
    seg = ["device=cpu", "epochs=1", "data.num_samples=40", "data.image_size=32"]
    seg += ["data.batch_size=8", "model.kwargs={width: 8, depth: 2}", f"metrics=[{mod}:Seen]"]
    out = tmp_path / "ddp"
    cmd = torchrun_command(2, ["run", "shapes-unet", *seg, f"--out={out}"])
    proc = subprocess.run(
        cmd, cwd=ROOT, env=env_with(folder), capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    [row] = epoch_lines(only_run_dir(out))
    assert row["val_seen"] == 8  # the 20% validation split of 40, not counted twice
