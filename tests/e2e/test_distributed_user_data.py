"""A user's own Dataset in a 2-process gloo run trains like one process with the doubled batch
(the sampler shards it as it shards image folders)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
import torch
from support.runs import only_run_dir, run_preset

from tui_trainer.launch import torchrun_command

ROOT = Path(__file__).resolve().parents[2]
USER = [
    "epochs=2",
    "device=cpu",
    "progress.interval=0.5",
    "data.name=support.userdata:DigitsArrays",
    "data.kwargs={limit: 512}",
    "data.normalize={mean: [0.3], std: [0.4]}",
    "data.num_workers=1",
]


def _curve(run_dir: Path) -> list[dict]:
    return torch.load(run_dir / "checkpoints" / "last.pt", weights_only=True)["progress"]["history"]


@pytest.mark.slow
def test_two_processes_with_a_user_dataset_match_one_with_the_doubled_batch(tmp_path):
    out = tmp_path / "ddp"
    path = os.pathsep.join(filter(None, [str(ROOT / "tests"), os.environ.get("PYTHONPATH")]))
    env = {**os.environ, "PYTHONPATH": path, "OMP_NUM_THREADS": "1"}
    cmd = torchrun_command(2, ["run", "quickstart", *USER, "data.batch_size=16", f"--out={out}"])
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "effective batch 32" in proc.stdout
    finished, one = run_preset(tmp_path / "one", [*USER, "data.batch_size=32"], tiny=False)
    assert finished.status == "completed", finished.error
    two = only_run_dir(out)
    for ra, rb in zip(_curve(two), _curve(one), strict=True):
        for key in ("train_loss", "val_loss", "lr"):
            assert ra[key] == pytest.approx(rb[key], abs=2e-3), (key, ra, rb)
        for key in ("train_accuracy", "val_accuracy"):
            assert ra[key] == pytest.approx(rb[key], abs=0.01), (key, ra, rb)
