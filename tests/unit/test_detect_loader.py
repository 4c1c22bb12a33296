"""DetectionLoader: the batch contract, exact resume, worker count, shards, the global RNG."""

from __future__ import annotations

import random
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from tui_trainer.engine.tasks.detection.index import Annotated
from tui_trainer.engine.tasks.detection.loader import DetectionLoader
from tui_trainer.engine.tasks.detection.transforms import DetectAugment

ALL = DetectAugment(hflip=True, scale=0.3, color=0.3, mosaic=0.5)


def scenes(n: int, seed: int = 0) -> list[Annotated]:
    """`n` generated images of varied sizes, each with 1-2 coloured rectangles."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        w, h = int(rng.integers(30, 90)), int(rng.integers(30, 90))
        pixels = rng.integers(0, 60, (h, w, 3), dtype=np.uint8)
        boxes, labels = [], []
        for k in range(int(rng.integers(1, 3))):
            x0, y0 = int(rng.integers(0, w // 2)), int(rng.integers(0, h // 2))
            x1, y1 = x0 + int(rng.integers(8, w // 2)), y0 + int(rng.integers(8, h // 2))
            pixels[y0:y1, x0:x1] = (200, 60 * k, 40)
            boxes.append((x0, y0, x1, y1))
            labels.append(k)
        out.append(
            Annotated(
                boxes=np.array(boxes, np.float32),
                labels=np.array(labels, np.int64),
                width=w,
                height=h,
                pixels=pixels,
                image_id=100 + i,
            )
        )
    return out


def loader(samples: list[Annotated], **kw: object) -> DetectionLoader:
    args: dict = dict(
        image_size=48,
        batch_size=4,
        shuffle=True,
        seed=7,
        augment=ALL,
        num_workers=0,
        pin_memory=False,
    )
    args.update(kw)
    return DetectionLoader(samples, **args)


def assert_same(a: list, b: list) -> None:
    assert len(a) == len(b)
    for (xa, ta), (xb, tb) in zip(a, b, strict=True):
        assert torch.equal(xa, xb)
        assert len(ta) == len(tb)
        for da, db in zip(ta, tb, strict=True):
            assert da.keys() == db.keys()
            for key in da:
                assert torch.equal(da[key], db[key]), key


def test_batches_meet_the_detection_contract():
    samples = scenes(9)
    batches = list(loader(samples, augment=None, shuffle=False, drop_last_single=False))
    assert [x.shape[0] for x, _ in batches] == [4, 4, 1]
    x, targets = batches[0]
    assert x.dtype == torch.float32 and x.shape == (4, 3, 48, 48)
    assert float(x.min()) >= 0.0 and float(x.max()) <= 1.0
    assert isinstance(targets, list) and len(targets) == 4
    for k, t in enumerate(targets):
        a = samples[k]  # validation order is fixed: the samples' own
        assert t["boxes"].dtype == torch.float32 and t["boxes"].shape == (len(a.labels), 4)
        assert t["labels"].dtype == torch.int64 and t["labels"].tolist() == a.labels.tolist()
        assert t["image_id"].dtype == torch.int64 and t["image_id"].shape == ()
        assert int(t["image_id"]) == a.image_id
        assert t["orig_size"].tolist() == [a.height, a.width]
        scale, pad_x, pad_y, zero = t["letterbox"].tolist()
        assert t["letterbox"].dtype == torch.float32 and zero == 0.0
        assert scale == pytest.approx(48 / max(a.width, a.height))
        expected = torch.from_numpy(a.boxes) * scale + torch.tensor([pad_x, pad_y] * 2)
        torch.testing.assert_close(t["boxes"], expected)


def test_background_images_go_through_every_augmentation():
    blank = [
        Annotated(
            boxes=np.zeros((0, 4), np.float32),
            labels=np.zeros((0,), np.int64),
            width=50,
            height=40,
            pixels=np.zeros((40, 50, 3), np.uint8),
            image_id=i,
        )
        for i in range(4)
    ]
    train = loader(blank, augment=DetectAugment(hflip=True, scale=0.5, color=0.4, mosaic=1.0))
    for x, targets in train:
        assert x.shape == (4, 3, 48, 48)
        for t in targets:
            assert t["boxes"].shape == (0, 4) and t["boxes"].dtype == torch.float32
            assert t["labels"].shape == (0,) and t["labels"].dtype == torch.int64


def test_validation_order_is_fixed_across_epochs():
    val = loader(scenes(6), augment=None, shuffle=False, drop_last_single=False)
    first = list(val)
    val.set_epoch(5)
    assert_same(first, list(val))


def test_a_trailing_batch_of_one_is_dropped_when_training():
    assert loader(scenes(9)).batch_sizes() == [4, 4]
    assert loader(scenes(9), drop_last_single=False).batch_sizes() == [4, 4, 1]


def test_batch_i_is_the_same_resumed_or_from_the_start():
    train = loader(scenes(14))
    train.set_epoch(3)
    whole = list(train.iterate(0))
    resumed = loader(scenes(14))
    resumed.set_epoch(3)
    assert_same(whole[2:], list(resumed.iterate(2)))
    train.set_epoch(4)  # another epoch: another order and other draws
    assert not torch.equal(whole[0][0], next(iter(train.iterate(0)))[0])


def on_disk(samples: list[Annotated], folder: Path) -> list[Annotated]:
    """The same samples as PNG files (decoded by the loader, not held in memory)."""
    out = []
    for a in samples:
        path = folder / f"{a.image_id}.png"
        Image.fromarray(a.pixels).save(path)
        out.append(replace(a, pixels=None, path=path))
    return out


def test_batches_do_not_depend_on_the_worker_count_or_where_pixels_come_from(tmp_path):
    samples = scenes(12)
    files = on_disk(samples, tmp_path)
    zero = loader(samples, num_workers=0)
    two = loader(files, num_workers=2)
    try:
        for epoch in (0, 1):  # the persistent workers serve the second epoch too
            zero.set_epoch(epoch)
            two.set_epoch(epoch)
            assert_same(list(zero), list(two))
    finally:
        two.release()


def test_shards_split_the_epoch_like_one_process_at_the_doubled_batch():
    samples = scenes(12)
    single = loader(samples, batch_size=4)
    ranks = [loader(samples, batch_size=2).shard(r, 2, pad=True) for r in range(2)]
    for each in (single, *ranks):
        each.set_epoch(2)
    # rank r's k-th sample is slot r + 2k of the one-process order: same sample, same draws
    per_rank = [list(rank) for rank in ranks]
    assert [len(b) for b in per_rank] == [len(single)] * 2
    for k, (x, targets) in enumerate(single):
        for r in range(2):
            xr, tr = per_rank[r][k]
            assert torch.equal(xr, x[r::2])
            assert [int(t["image_id"]) for t in tr] == [int(t["image_id"]) for t in targets[r::2]]


@pytest.mark.parametrize(("pad", "sizes"), [(True, [4, 4, 4]), (False, [4, 3, 3])])
def test_shard_sizes_with_and_without_padding(pad, sizes):
    samples = scenes(10)
    shards = [
        loader(samples, batch_size=8, augment=None, shuffle=False, drop_last_single=False).shard(
            r, 3, pad=pad
        )
        for r in range(3)
    ]
    assert [sum(s.batch_sizes()) for s in shards] == sizes
    seen = [int(t["image_id"]) for s in shards for _, ts in s for t in ts]
    assert len(seen) == sum(sizes)
    assert set(seen) == {a.image_id for a in samples}  # every sample, padding repeats some


def test_the_loader_leaves_the_global_rngs_alone():
    torch.manual_seed(123)
    random.seed(5)
    np.random.seed(6)
    states = (torch.random.get_rng_state(), random.getstate(), np.random.get_state()[1].copy())
    train = loader(scenes(8), augment=DetectAugment(hflip=True, scale=0.5, color=0.5, mosaic=1))
    for epoch in (0, 1):
        train.set_epoch(epoch)
        list(train)
    assert torch.equal(torch.random.get_rng_state(), states[0])
    assert random.getstate() == states[1]
    assert np.array_equal(np.random.get_state()[1], states[2])


def test_mosaic_stops_at_mosaic_until_of_the_runs_current_length():
    # one box per image, no other augmentation: a target with more boxes came from a mosaic
    samples = [a for a in scenes(40) if len(a.labels) == 1]
    epochs = [10]
    train = loader(
        samples,
        augment=DetectAugment(mosaic=1.0, mosaic_until=0.5),
        epochs=lambda: epochs[0],
        batch_size=len(samples),
    )

    def mosaics(epoch: int) -> int:
        train.set_epoch(epoch)
        _, targets = next(iter(train))
        return sum(len(t["labels"]) > 1 for t in targets)

    assert mosaics(4) > 0
    assert mosaics(5) == 0 and mosaics(9) == 0
    epochs[0] = 20  # steered longer: mosaic runs until epoch 10 now
    assert mosaics(9) > 0


@pytest.mark.skipif(not torch.cuda.is_available(), reason="pinned memory and CUDA RNG need CUDA")
def test_on_cuda_batches_are_pinned_and_the_cuda_rng_is_left_alone():
    torch.cuda.init()
    cuda_state = torch.cuda.get_rng_state()
    train = loader(scenes(8), pin_memory=True, augment=ALL)
    x, targets = next(iter(train))
    assert x.is_pinned() and all(t["boxes"].is_pinned() for t in targets)
    assert torch.equal(torch.cuda.get_rng_state(), cuda_state)
    assert not loader(scenes(8), pin_memory=False).pin_memory


def test_an_all_off_augmentation_is_no_augmentation(monkeypatch):
    """Nothing drawn, nothing run: the same batches as `augment=None`, and the v2 pipeline
    (about 1 ms a sample of clamp and sanitize on boxes it cannot change) is never called."""
    from tui_trainer.engine.tasks.detection import transforms
    from tui_trainer.engine.tasks.detection.shapes import generate_shapes

    index = generate_shapes(12, 32, 0, 3, 2, 0.25)

    def batches(augment):
        loader = DetectionLoader(
            index.train, image_size=32, batch_size=4, shuffle=True, seed=1,
            augment=augment, num_workers=0, pin_memory=False,
        )  # fmt: skip
        loader.set_epoch(0)
        return list(loader.iterate(0))

    plain = batches(None)
    monkeypatch.setattr(transforms.Augmenter, "__call__", lambda *a: pytest.fail("augmented"))
    off = batches(DetectAugment())
    assert len(off) == len(plain)
    for (xa, ta), (xb, tb) in zip(off, plain, strict=True):
        assert torch.equal(xa, xb)
        assert all(torch.equal(a["boxes"], b["boxes"]) for a, b in zip(ta, tb, strict=True))
