"""Image folders: decoding, the RAM and disk caches, workers, resume, transforms."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch
from PIL import Image
from support.runs import TINY, only_run_dir

from tui_trainer.config import load_config
from tui_trainer.engine.data import build_data
from tui_trainer.engine.data.augment import TRIES, crop_boxes
from tui_trainer.engine.data.cache import DiskCache
from tui_trainer.engine.data.decode import Geometry, decode_rgb
from tui_trainer.engine.data.folder_setup import resolve_workers
from tui_trainer.runlog.control import Control, StopMode
from tui_trainer.runlog.events import StepProgress
from tui_trainer.session import execute

CPU = torch.device("cpu")


def make_jpegs(root, per_class=10, classes=("cat", "dog"), size=(60, 45)):
    """JPEG class folders: noise around a class colour, so the classes are learnable."""
    rng = np.random.default_rng(0)
    for k, cls in enumerate(classes):
        (root / cls).mkdir(parents=True)
        for i in range(per_class):
            base = np.array([200, 40, 40] if k == 0 else [40, 40, 200], dtype=np.int16)
            noise = rng.integers(-30, 30, (size[1], size[0], 3))
            pixels = np.clip(base + noise, 0, 255).astype(np.uint8)
            Image.fromarray(pixels).save(root / cls / f"{i:02d}.jpg", quality=90)
    return root


def folder_config(root, tmp_path, *extra):
    overrides = [
        *TINY,
        "data.name=imagefolder",
        f"data.root={root}",
        "data.image_size=16",
        "data.batch_size=4",
        "data.val_split=0.25",
        "data.num_workers=0",
        "model.kwargs={}",
        f"data.cache_dir={tmp_path / 'cache'}",
        f"out={tmp_path / 'runs'}",
        *extra,
    ]
    return load_config("quickstart", overrides)[0]


def epoch_batches(loader, epoch, start=0):
    loader.set_epoch(epoch)
    return [(x.clone(), y.clone()) for x, y in loader.iterate(start)]


def assert_same(a, b):
    assert len(a) == len(b)
    for (xa, ya), (xb, yb) in zip(a, b, strict=True):
        assert torch.equal(ya, yb) and torch.equal(xa, xb)


# -- decoding ------------------------------------------------------------------------------------
def test_jpeg_decodes_at_reduced_size_close_to_a_full_decode(tmp_path):
    path = tmp_path / "big.jpg"
    yy, xx = np.mgrid[0:375, 0:500]
    pixels = np.stack([(xx / 2) % 256, (yy / 2) % 256, (xx + yy) % 256], -1).astype(np.uint8)
    Image.fromarray(pixels).save(path, quality=95)
    fast, size = decode_rgb(path, Geometry(32))
    assert size == (500, 375) and fast.shape == (32, 32, 3)
    with Image.open(path) as img:
        img.draft("RGB", (32, 32))
        assert img.size[0] < 500  # the decoder really works at a reduced scale
    with Image.open(path) as img:
        full = np.asarray(img.convert("RGB").resize((32, 32), Image.Resampling.BILINEAR))
    assert np.abs(fast.astype(int) - full.astype(int)).mean() < 6  # antialiased, not aliased


def test_center_geometry_keeps_the_aspect_and_crops_the_middle():
    (w, h), box = Geometry(16, "center", 18).plan(40, 20)
    assert (w, h) == (36, 18) and box == (10, 1, 26, 17)


# -- caches --------------------------------------------------------------------------------------
@pytest.mark.parametrize("workers", [0, 2])
def test_cached_batches_are_bitwise_those_of_the_uncached_path(tmp_path, workers):
    root = make_jpegs(tmp_path / "imgs")
    loaders = {}
    for cache in ("none", "ram", "disk"):
        config = folder_config(root, tmp_path, f"data.cache={cache}", f"data.num_workers={workers}")
        loaders[cache] = build_data(config, CPU).make_train(4)
    reference = [epoch_batches(loaders["none"], e) for e in range(2)]
    for cache in ("ram", "disk"):
        for epoch in range(2):  # epoch 0 decodes (and fills the cache), epoch 1 reads it
            assert_same(epoch_batches(loaders[cache], epoch), reference[epoch])
    assert loaders["ram"].ram.filled.all()
    # A later run reads the disk cache (no decoding) and gets the same pixels again.
    config = folder_config(root, tmp_path, "data.cache=disk")
    again = build_data(config, CPU).make_train(4)
    assert_same(epoch_batches(again, 0), reference[0])
    assert again._loader is None  # every sample came from the disk cache, no DataLoader


def test_disk_cache_survives_damage_and_notices_changed_files(tmp_path):
    root = make_jpegs(tmp_path / "imgs", per_class=3)
    config = folder_config(root, tmp_path, "data.cache=disk", "data.val_split=0.5")

    def both():
        data = build_data(config, CPU)
        return epoch_batches(data.make_train(4), 0) + epoch_batches(data.val, 0)

    reference = both()
    files = sorted((tmp_path / "cache").rglob("*.u8"))
    assert len(files) == 6
    files[0].write_bytes(files[0].read_bytes()[:-7])  # truncated (a run killed mid-write)
    damaged = bytearray(files[1].read_bytes())
    damaged[-1] ^= 0xFF  # one flipped byte: the CRC notices
    files[1].write_bytes(bytes(damaged))
    assert_same(both(), reference)
    # An image rewritten in place gets a new key (size/mtime change), not the stale pixels.
    image = sorted((root / "cat").iterdir())[0]
    Image.new("RGB", (60, 45), (0, 255, 0)).save(image)
    os.utime(image, ns=(1, 1))
    changed = both()
    assert len(sorted((tmp_path / "cache").rglob("*.u8"))) == 7
    assert any(not torch.equal(a[0], b[0]) for a, b in zip(changed, reference, strict=True))


def test_disk_cache_writes_are_atomic_and_a_read_only_folder_is_no_cache(tmp_path):
    cache = DiskCache(tmp_path / "c", (3, 2, 2))
    array = np.arange(12, dtype=np.uint8).reshape(3, 2, 2)
    cache.put("a", array)
    assert np.array_equal(cache.get("a"), array)
    assert not list((tmp_path / "c").rglob(".tmp-*"))  # no temporary file left behind
    assert cache.get("b") is None
    blocked = DiskCache(tmp_path / "file-not-folder" / "x", (3, 2, 2))
    (tmp_path / "file-not-folder").write_text("")
    blocked.put("a", array)  # cannot create the folder: silently no cache
    assert blocked.get("a") is None


# -- resume and workers --------------------------------------------------------------------------
@pytest.mark.parametrize("aug", [[], ["data.augment.hflip=true", "data.augment.crop_padding=2"]])
def test_a_resumed_epoch_continues_exactly_with_workers_and_cache(tmp_path, aug):
    root = make_jpegs(tmp_path / "imgs")
    config = folder_config(root, tmp_path, "data.num_workers=2", "data.cache=ram", *aug)
    loader = build_data(config, CPU).make_train(3)
    first = epoch_batches(loader, 0)  # from files, through persistent workers
    assert_same(epoch_batches(loader, 0, start=2), first[2:])  # now from the RAM cache
    cold = build_data(config, CPU).make_train(3)  # a fresh process resuming mid-epoch
    assert_same(epoch_batches(cold, 0, start=2), first[2:])
    assert_same(epoch_batches(cold, 1), epoch_batches(loader, 1))
    if aug:
        assert not torch.equal(first[0][0], epoch_batches(loader, 1)[0][0])  # per epoch


def test_stop_and_resume_a_folder_run_with_workers_and_cache(tmp_path):
    root = make_jpegs(tmp_path / "imgs")
    extra = ["data.num_workers=2", "epochs=3", "data.augment.hflip=true", "progress.interval=1e-9"]

    class Losses:
        def __init__(self, control=None, stop_at=None):
            self.control, self.stop_at, self.losses = control, stop_at, {}

        def __call__(self, event):
            if isinstance(event, StepProgress):
                self.losses[event.global_step] = event.loss
                if event.global_step == self.stop_at:
                    self.control.request_stop(StopMode.STEP, status="interrupted")

    whole = Losses()
    config = folder_config(root, tmp_path / "a", *extra)
    assert execute(config, "q", sinks=[whole], control=Control()).status == "completed"
    config = folder_config(root, tmp_path / "b", *extra)
    control = Control()
    first = Losses(control, stop_at=7)  # mid-epoch 2 (5 steps an epoch)
    assert execute(config, "q", sinks=[first], control=control).status == "interrupted"
    second = Losses()
    run_dir = only_run_dir(tmp_path / "b" / "runs")
    assert execute(config, "q", sinks=[second], control=Control(), resume=run_dir).status == (
        "completed"
    )
    assert {**first.losses, **second.losses} == whole.losses


def test_auto_workers_follow_the_cores_this_process_may_use(monkeypatch):
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(6)))
    assert resolve_workers("auto", {}) == 6
    assert resolve_workers("auto", {"LOCAL_WORLD_SIZE": "2"}) == 3  # shared by 2 processes
    assert resolve_workers("auto", {"LOCAL_WORLD_SIZE": "6"}) == 0  # 1 core: main process
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(64)))
    assert resolve_workers("auto", {}) == 8
    assert resolve_workers(3, {}) == 3


# -- fine-tuning transforms ------------------------------------------------------------------------
def test_finetune_transforms_crop_randomly_for_training_and_centrally_for_validation(tmp_path):
    root = make_jpegs(tmp_path / "imgs")
    config = folder_config(root, tmp_path, "data.transform=finetune")
    data = build_data(config, CPU)
    train = data.make_train(4)
    assert train.source.geometry == Geometry(18)  # 16 / 0.875: room to crop from
    assert data.val.source.geometry == Geometry(16, "center", 18)
    a, b = epoch_batches(train, 0), epoch_batches(train, 1)
    assert a[0][0].shape == (4, 3, 16, 16)
    assert not torch.equal(a[0][0], b[0][0])
    x, _ = next(iter(data.val))
    assert x.shape[1:] == (3, 16, 16)


def test_random_resized_crop_draws_the_same_amount_whatever_it_picks():
    gen = torch.Generator().manual_seed(0)
    boxes = crop_boxes(500, 20, 30, gen)
    top, left, h, w = boxes.T
    assert bool(((top >= 0) & (left >= 0) & (top + h <= 20) & (left + w <= 30)).all())
    area = (h * w).float() / 600
    assert float(area.min()) > 0.05 and float(area.max()) <= 1.0
    a, b = torch.Generator().manual_seed(1), torch.Generator().manual_seed(1)
    crop_boxes(7, 5, 500, a)  # an extreme aspect: most tries fail, the fallback is used
    torch.rand(7, TRIES, 4, generator=b, dtype=torch.float64)
    assert torch.equal(torch.rand(3, generator=a), torch.rand(3, generator=b))


def test_folder_loaders_shard_between_processes(tmp_path):
    root = make_jpegs(tmp_path / "imgs")
    config = folder_config(root, tmp_path)
    data = build_data(config, CPU)
    whole = epoch_batches(data.make_train(6), 1)
    parts = []
    for rank in range(2):
        part = build_data(config, CPU).make_train(3).shard(rank, 2, pad=True)
        parts.append(epoch_batches(part, 1))
    assert [len(b[1]) for b in whole] == [6, 6, 3] and [len(b[1]) for b in parts[0]] == [3, 3, 2]
    for (x, y), (x0, y0), (x1, y1) in zip(whole[:2], *parts, strict=False):  # last one: padded
        assert torch.equal(torch.stack([y0, y1], 1).flatten(), y)  # rank r: samples r, r+2, ...
        assert torch.equal(torch.stack([x0, x1], 1).flatten(0, 1), x)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_batches_come_through_pinned_memory(tmp_path):
    root = make_jpegs(tmp_path / "imgs")
    config = folder_config(root, tmp_path, "device=cuda", "data.num_workers=2")
    data = build_data(config, torch.device("cuda"))
    loader = data.make_train(4)
    assert loader.pin_memory
    for epoch in range(2):  # from the workers, then from the RAM cache
        x, y = epoch_batches(loader, epoch)[0]
        assert x.device.type == "cuda" and y.device.type == "cuda"
