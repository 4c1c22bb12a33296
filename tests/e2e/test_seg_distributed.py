"""Segmentation under DDP: 2 processes (gloo) train like one process with the doubled batch."""

from __future__ import annotations

import pytest
import torch
from support.runs import only_run_dir
from test_distributed import torchrun

from tui_trainer.config import load_config
from tui_trainer.engine.data import build_data
from tui_trainer.engine.tasks.segmentation.loader import SegTensorLoader
from tui_trainer.runlog.control import Control
from tui_trainer.session import execute

# 128 training images of 32x32, no augmentation (each rank draws its own flips), BatchNorm
# synchronised so that each step normalises over the global batch, as one process does.
SEG = [
    "device=cpu",
    "epochs=2",
    "data.num_samples=160",
    "data.image_size=32",
    "data.augment.hflip=false",
    "model.kwargs={width: 4, depth: 2}",
    "sync_bn=true",
    "progress.interval=0.5",
]


def history(run_dir):
    state = torch.load(run_dir / "checkpoints" / "last.pt", weights_only=True)
    return state["progress"]["history"]


def test_segmentation_loaders_shard_like_classification_ones():
    config, _ = load_config("shapes-unet", [*SEG, "data.batch_size=4"])
    data = build_data(config, torch.device("cpu"))
    whole = data.make_train(8)
    assert isinstance(whole, SegTensorLoader)
    whole.set_epoch(1)
    full = torch.cat([m for _, m in whole.iterate(0)])
    parts = []
    for rank in range(2):
        part = data.make_train(4).shard(rank, 2, pad=True)
        part.set_epoch(1)
        parts.append([m for _, m in part.iterate(0)])
    # Rank r's batch i holds samples r, r + 2, ... of the big batch i (shard_indices).
    pairs = [torch.stack(pair, 1).flatten(0, 1) for pair in zip(*parts, strict=True)]
    assert torch.equal(torch.cat(pairs), full)


@pytest.mark.slow
def test_two_segmentation_processes_match_one_with_the_doubled_batch(tmp_path):
    out = tmp_path / "ddp"
    proc = torchrun(["run", "shapes-unet", *SEG, "data.batch_size=16", f"--out={out}"])
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "effective batch 32" in proc.stdout
    config, name = load_config(
        "shapes-unet", [*SEG, "data.batch_size=32", f"out={tmp_path / 'one'}"]
    )
    finished = execute(config, name, sinks=[], control=Control())
    assert finished.status == "completed", finished.error
    two, one = history(only_run_dir(out)), history(only_run_dir(tmp_path / "one"))
    assert [r["epoch"] for r in two] == [r["epoch"] for r in one] == [1, 2]
    for a, b in zip(two, one, strict=True):
        for key in ("train_loss", "val_loss", "val_dice", "lr"):
            assert a[key] == pytest.approx(b[key], abs=2e-3), (key, a, b)
