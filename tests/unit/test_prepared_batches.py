"""In-memory data normalised once (`prepare_images`) gives bitwise the per-batch path's batches."""

from __future__ import annotations

import pytest
import torch

from tui_trainer.engine.data import build_data
from tui_trainer.engine.data.tensor_loader import BatchTransform, TensorLoader, prepare_images

CASES = {
    "rgb, flip and crop": ((3, 6), (0.5, 0.4, 0.3), (0.2, 0.25, 0.3), 255.0, None, 3, True),
    "gray to rgb, scale 16": ((1, 8), (0.4,), (0.3,), 16.0, None, 3, True),
    "resized, no augmentation": ((3, 6), (0.5, 0.5, 0.5), (0.5, 0.5, 0.5), 255.0, 9, 3, False),
}


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_prepared_batches_equal_per_batch_ones_bitwise(case):
    (channels, side), mean, std, scale, size, out_channels, augment = case
    gen = torch.Generator().manual_seed(5)
    raw = torch.randint(0, int(scale) + 1, (45, channels, side, side), generator=gen)
    raw = raw.to(torch.uint8 if scale == 255.0 else torch.float32)
    y = torch.arange(45)
    transform = BatchTransform(mean, std, scale, size, out_channels)
    ready = prepare_images(raw, transform, augment=augment)
    assert ready is not None and ready.dtype == torch.float32
    aug = {"hflip": augment, "crop_padding": 2 if augment else 0}

    def batches(prepared: torch.Tensor | None, start: int = 0) -> list:
        loader = TensorLoader(raw, y, transform, 8, shuffle=True, seed=3, prepared=prepared, **aug)
        loader.set_epoch(1)
        return list(loader.iterate(start))

    plain, fast = batches(None), batches(ready)
    assert len(plain) == len(fast) == 6  # 45 = 5 * 8 + 5
    for (xp, yp), (xf, yf) in zip(plain, fast, strict=True):
        assert torch.equal(yp, yf)
        assert xp.shape == xf.shape and torch.equal(xp, xf)  # padding, flips and all
    for (xp, _), (xf, _) in zip(plain[2:], batches(ready, 2), strict=True):  # resume position
        assert torch.equal(xp, xf)


def test_augmentation_before_a_resize_stays_per_batch():
    raw = torch.zeros(4, 3, 6, 6, dtype=torch.uint8)
    transform = BatchTransform((0.5,) * 3, (0.5,) * 3, 255.0, 9, 3)
    assert prepare_images(raw, transform, augment=True) is None  # crops happen before resize
    assert prepare_images(raw, transform, augment=False).shape == (4, 3, 9, 9)


def test_too_large_a_copy_stays_per_batch(monkeypatch):
    from tui_trainer.engine.data import tensor_loader

    raw = torch.zeros(10, 3, 4, 4, dtype=torch.uint8)
    transform = BatchTransform((0.5,) * 3, (0.5,) * 3, 255.0, None, 3)
    monkeypatch.setattr(tensor_loader, "PREPARE_LIMIT_BYTES", 10 * 3 * 4 * 4 * 4 - 1)
    assert prepare_images(raw, transform, augment=False) is None


def test_a_small_in_memory_dataset_is_kept_prepared(tiny_config):
    data = build_data(tiny_config, torch.device("cpu"))
    train = data.make_train(16)
    assert train.prepared is not None and data.val.prepared is not None
    assert float(data.val.images.max()) == 16.0  # digits: the raw copy is kept as stored
    x, _ = next(iter(data.val))
    assert torch.equal(x, data.val.transform(data.val.images[: x.shape[0]]))
