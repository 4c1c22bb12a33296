"""Detection letterbox and augmentation: boxes stay on their objects (property tests)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tui_trainer.engine.data.planned import slot_seed as sample_seed
from tui_trainer.engine.tasks.detection.index import Annotated
from tui_trainer.engine.tasks.detection.loader import DetectionSamples
from tui_trainer.engine.tasks.detection.transforms import GREY, MIN_BOX, DetectAugment, letterbox

OBJECT = (220, 30, 30)  # red
BACKGROUND = (40, 170, 60)  # green


def red(image: torch.Tensor) -> torch.Tensor:
    """Where a uint8 (3, H, W) image shows the object's colour (red well above green), any
    brightness/contrast/saturation jitter included."""
    r, g = image[0].to(torch.int32), image[1].to(torch.int32)
    return (r - g) > 50


def picture(width: int, height: int, box: tuple[int, int, int, int]) -> np.ndarray:
    """A plain background with one solid rectangle at `box` (x0, y0, x1, y1)."""
    pixels = np.empty((height, width, 3), np.uint8)
    pixels[:] = BACKGROUND
    x0, y0, x1, y1 = box
    pixels[y0:y1, x0:x1] = OBJECT
    return pixels


@st.composite
def scenes(draw: st.DrawFn) -> Annotated:
    """An image of random size with one rectangle (at least 40% of each side) somewhere."""
    w, h = draw(st.integers(24, 160)), draw(st.integers(24, 160))
    bw = draw(st.integers(int(0.4 * w), w))
    bh = draw(st.integers(int(0.4 * h), h))
    x0, y0 = draw(st.integers(0, w - bw)), draw(st.integers(0, h - bh))
    box = (x0, y0, x0 + bw, y0 + bh)
    return Annotated(
        boxes=np.array([box], np.float32),
        labels=np.array([0], np.int64),
        width=w,
        height=h,
        pixels=picture(w, h, box),
    )


def inside_all(boxes: torch.Tensor, size: int, grow: float) -> torch.Tensor:
    """(size, size) mask of pixels whose centre lies in some box grown by `grow` pixels."""
    c = torch.arange(size, dtype=torch.float32) + 0.5
    mask = torch.zeros(size, size, dtype=torch.bool)
    for x0, y0, x1, y1 in boxes.tolist():
        xs = (c > x0 - grow) & (c < x1 + grow)
        ys = (c > y0 - grow) & (c < y1 + grow)
        mask |= ys[:, None] & xs[None, :]
    return mask


def erode(mask: torch.Tensor, radius: int) -> torch.Tensor:
    """`mask` eroded by a square of side 2 * radius + 1 (thin slivers vanish)."""
    inverted = (~mask).to(torch.float32)[None, None]
    grown = torch.nn.functional.max_pool2d(inverted, 2 * radius + 1, stride=1, padding=radius)
    return grown[0, 0] == 0


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    scenes=st.lists(scenes(), min_size=1, max_size=5),
    seed=st.integers(0, 2**31),
    hflip=st.booleans(),
    scale=st.sampled_from([0.0, 0.25, 0.5]),
    color=st.sampled_from([0.0, 0.4]),
    mosaic=st.sampled_from([0.0, 1.0]),
)
def test_augmented_boxes_stay_on_their_objects(scenes, seed, hflip, scale, color, mosaic):
    size = 96
    augment = DetectAugment(hflip=hflip, scale=scale, color=color, mosaic=mosaic)
    samples = DetectionSamples(scenes, size, augment)
    image, target = samples[(0, sample_seed(seed, 0, 0), True)]
    boxes, labels = target["boxes"], target["labels"]
    assert image.shape == (3, size, size) and image.dtype == torch.uint8
    assert boxes.dtype == torch.float32 and labels.dtype == torch.int64
    assert boxes.shape == (labels.shape[0], 4)
    assert bool((boxes >= 0).all() and (boxes <= size).all())
    assert bool(((boxes[:, 2:] - boxes[:, :2]) >= MIN_BOX).all())
    objects = red(image)
    for x0, y0, x1, y1 in boxes.tolist():
        # each box covers mostly the object's colour (its 1-pixel rim may be blurred, which
        # is most of a box only a few pixels thin)
        wide = min(x1 - x0, y1 - y0) >= 6
        shrink, least = (1.0, 0.8) if wide else (0.0, 0.4)
        box = torch.tensor([[x0 + shrink, y0 + shrink, x1 - shrink, y1 - shrink]])
        region = inside_all(box, size, 0.0)
        assert objects[region].float().mean() > least, (x0, y0, x1, y1)
    # and the colour outside every box is rare: only slivers thinner than MIN_BOX (dropped
    # boxes) and blurred rims, which a 7x7 erosion removes
    outside = erode(objects, 3) & ~inside_all(boxes, size, 1.5)
    assert outside.float().mean() < 0.002, int(outside.sum())


@settings(max_examples=40, deadline=None)
@given(
    w=st.integers(1, 300),
    h=st.integers(1, 300),
    size=st.sampled_from([32, 64, 97, 160]),
    data=st.data(),
)
def test_letterbox_maps_boxes_by_its_recorded_scale_and_pad_and_back(w, h, size, data):
    x0 = data.draw(st.integers(0, w - 1))
    y0 = data.draw(st.integers(0, h - 1))
    x1, y1 = data.draw(st.integers(x0 + 1, w)), data.draw(st.integers(y0 + 1, h))
    boxes = torch.tensor([[x0, y0, x1, y1]], dtype=torch.float32)
    image = torch.from_numpy(picture(w, h, (x0, y0, x1, y1))).permute(2, 0, 1)
    square, mapped, lb = letterbox(image, boxes, size)
    assert square.shape == (3, size, size)
    # longer side = size, centred, grey padding around the image
    assert max(lb.width, lb.height) == size
    assert (lb.pad_x, lb.pad_y) == ((size - lb.width) // 2, (size - lb.height) // 2)
    inside = torch.zeros(size, size, dtype=torch.bool)
    inside[lb.pad_y : lb.pad_y + lb.height, lb.pad_x : lb.pad_x + lb.width] = True
    assert bool((square[:, ~inside] == GREY).all())
    assert not bool((square[:, inside] == GREY).all(dim=0).any())
    # the recorded mapping (what evaluation inverts) is exactly what happened to the boxes
    scale, pad_x, pad_y, zero = lb.as_tensor().tolist()
    pad = torch.tensor([pad_x, pad_y, pad_x, pad_y])
    assert zero == 0.0
    torch.testing.assert_close(mapped, boxes * scale + pad)
    torch.testing.assert_close((mapped - pad) / scale, boxes, rtol=1e-5, atol=1e-3)
    # and the image went there too: the box's interior shows the object (less the rim that
    # resizing blurs: about half an original pixel when upscaling)
    rim = 1 + scale
    if min(x1 - x0, y1 - y0) >= 4 and min(x1 - x0, y1 - y0) * scale >= 2 * rim + 2:
        m = mapped[0].tolist()
        region = inside_all(
            torch.tensor([[m[0] + rim, m[1] + rim, m[2] - rim, m[3] - rim]]), size, 0
        )
        assert red(square)[region].float().mean() > 0.9


def test_scale_jitter_draws_factors_across_its_range_about_the_centre():
    size = 64
    scene = Annotated(
        boxes=np.array([[22, 22, 42, 42]], np.float32),
        labels=np.array([0], np.int64),
        width=size,
        height=size,
        pixels=picture(size, size, (22, 22, 42, 42)),
    )
    samples = DetectionSamples([scene], size, DetectAugment(scale=0.5))
    factors = []
    for seed in range(40):
        _, target = samples[(0, sample_seed(seed, 0, 0), False)]
        ((x0, y0, x1, y1),) = target["boxes"].tolist()
        factors.append((x1 - x0) / 20)
        assert (x0 + x1) / 2 == pytest.approx(32, abs=1) and (y0 + y1) / 2 == pytest.approx(
            32, abs=1
        )
    assert min(factors) >= 0.5 - 0.05 and max(factors) <= 1.5 + 0.05
    assert min(factors) < 0.75 and max(factors) > 1.25  # the range is used, both ways
