"""Generated detection data: coloured shapes with exact boxes, for the quickstart and the tests.

Each image is a dark, slightly tinted background with 1..`max_shapes` shapes on it; a shape's
class is its kind (`SHAPE_KINDS`: rectangle, ellipse, triangle, then diamond, cross, ring for
more classes). Each kind has its own strong colour (`COLOURS`), varied per shape in brightness
and tint, so colour and outline both tell the class: a tiny detector learns it on a CPU in a
minute or two at 64-96 pixels. Boxes are axis-aligned with integer pixel edges, 15%-50% of the
image side on each axis, and the drawn shape reaches every side of its box, so the box is
exact. Boxes overlap little (IoU <= `MAX_IOU` with every
earlier box of the image; a shape that finds no such place is not drawn); a later shape covers
an earlier one. Gaussian noise over the whole image.

Deterministic from the seed (one numpy Generator, drawn in a fixed order): the same seed gives
the same pixels and boxes on every machine. The first `val_fraction` of the images are the
validation split. numpy only (no torch).
"""

from __future__ import annotations

import numpy as np

from tui_trainer.engine.data.split import holdout_size
from tui_trainer.engine.tasks.detection.index import Annotated, DetectionIndex
from tui_trainer.errors import UserError

SHAPE_KINDS = ("rectangle", "ellipse", "triangle", "diamond", "cross", "ring")
COLOURS = np.array(
    [
        (230, 40, 40),  # rectangle: red
        (40, 200, 60),  # ellipse: green
        (50, 90, 240),  # triangle: blue
        (235, 220, 40),  # diamond: yellow
        (220, 50, 220),  # cross: magenta
        (40, 220, 230),  # ring: cyan
    ],
    dtype=np.float32,
)
MIN_SIDE, MAX_SIDE = 0.15, 0.5  # a box side, as a fraction of the image side
MAX_IOU = 0.2  # the most a new box may overlap any earlier box of its image
PLACE_TRIES = 20
NOISE = 6.0  # standard deviation of the pixel noise (0-255 scale)


def _mask(kind: int, w: int, h: int, turn: int, apex: float) -> np.ndarray:
    """The (h, w) pixels of a shape filling a w x h box.

    Round and straight outlines take the pixels whose centre is inside; pointed ones (triangle,
    diamond) the pixels their outline touches, so the tip pixel is drawn and the shape reaches
    every side of its box.
    """
    hw, hh = 0.5 / w, 0.5 / h  # half a pixel, in box units
    u = ((np.arange(w, dtype=np.float32) + 0.5) / w)[None, :]
    v = ((np.arange(h, dtype=np.float32) + 0.5) / h)[:, None]
    name = SHAPE_KINDS[kind]
    if name == "rectangle":
        return np.ones((h, w), dtype=bool)
    if name == "ellipse":
        return (u - 0.5) ** 2 + (v - 0.5) ** 2 <= 0.25
    if name == "triangle":
        # Apex on one side of the box (at `apex` along it), base along the opposite side.
        along, across, ha, hx = (u, v, hw, hh) if turn < 2 else (v, u, hh, hw)
        # The pixel's far edge from the apex, where the triangle is widest within the pixel.
        across = np.minimum((across if turn % 2 == 0 else 1 - across) + hx, 1)
        return (along >= apex * (1 - across) - ha) & (along <= apex + (1 - apex) * across + ha)
    if name == "diamond":
        du = np.maximum(np.abs(u - 0.5) - hw, 0)
        dv = np.maximum(np.abs(v - 0.5) - hh, 0)
        return du + dv <= 0.5
    if name == "cross":
        return (np.abs(u - 0.5) <= 0.17) | (np.abs(v - 0.5) <= 0.17)
    outer = (u - 0.5) ** 2 + (v - 0.5) ** 2  # ring
    return (outer <= 0.25) & (outer >= 0.25 * 0.55**2)


def _iou(box: np.ndarray, others: np.ndarray) -> np.ndarray:
    """IoU of one xyxy box with each of `others` (k, 4)."""
    ix = np.clip(np.minimum(box[2], others[:, 2]) - np.maximum(box[0], others[:, 0]), 0, None)
    iy = np.clip(np.minimum(box[3], others[:, 3]) - np.maximum(box[1], others[:, 1]), 0, None)
    inter = ix * iy
    area = (box[2] - box[0]) * (box[3] - box[1])
    areas = (others[:, 2] - others[:, 0]) * (others[:, 3] - others[:, 1])
    return inter / (area + areas - inter)


def _place(
    rng: np.random.Generator, size: int, placed: list[np.ndarray]
) -> tuple[int, int, int, int] | None:
    """A box (x1, y1, w, h) overlapping the placed ones by at most MAX_IOU, or None."""
    lo = max(2, round(MIN_SIDE * size))
    hi = max(lo, round(MAX_SIDE * size))
    for _ in range(PLACE_TRIES):
        w, h = (int(s) for s in rng.integers(lo, hi + 1, size=2))
        x1, y1 = int(rng.integers(0, size - w + 1)), int(rng.integers(0, size - h + 1))
        box = np.array([x1, y1, x1 + w, y1 + h], dtype=np.float32)
        if not placed or _iou(box, np.stack(placed)).max() <= MAX_IOU:
            return x1, y1, w, h
    return None


def generate_shapes(
    n: int,
    image_size: int,
    seed: int,
    num_classes: int = 3,
    max_shapes: int = 3,
    val_fraction: float = 0.2,
) -> DetectionIndex:
    """`n` generated images of `image_size` pixels with exact boxes; the first `val_fraction`
    of them (at least one) are the validation split. Classes: the first `num_classes` of
    `SHAPE_KINDS`. UserError for a class count or size it cannot make."""
    if not 1 <= num_classes <= len(SHAPE_KINDS):
        raise UserError(
            f"generated shapes have 1 to {len(SHAPE_KINDS)} classes "
            f"({', '.join(SHAPE_KINDS)}), got {num_classes}",
            key="data.num_classes",
        )
    if image_size < 16:
        raise UserError(f"expected at least 16 pixels, got {image_size}", key="data.image_size")
    if max_shapes < 1:
        raise UserError(f"expected at least 1, got {max_shapes}", key="data.max_shapes")
    n_val = holdout_size(n, val_fraction, "images")
    rng = np.random.default_rng(seed)
    size = image_size
    # Background: a dark level per image, slightly tinted per channel.
    level = rng.uniform(25, 100, size=(n, 1, 1, 1)).astype(np.float32)
    tint = rng.uniform(-12, 12, size=(n, 1, 1, 3)).astype(np.float32)
    images = np.broadcast_to(level + tint, (n, size, size, 3)).copy()
    samples: list[tuple[np.ndarray, np.ndarray]] = []
    for i in range(n):
        count = int(rng.integers(1, max_shapes + 1))
        placed: list[np.ndarray] = []
        labels: list[int] = []
        for _ in range(count):
            kind = int(rng.integers(0, num_classes))
            turn, apex = int(rng.integers(0, 4)), float(rng.uniform(0.0, 1.0))
            colour = COLOURS[kind] * rng.uniform(0.8, 1.0) + rng.uniform(-25, 25, size=3)
            spot = _place(rng, size, placed)
            if spot is None:
                continue
            x1, y1, w, h = spot
            region = images[i, y1 : y1 + h, x1 : x1 + w]
            region[_mask(kind, w, h, turn, apex)] = colour
            placed.append(np.array([x1, y1, x1 + w, y1 + h], dtype=np.float32))
            labels.append(kind)
        samples.append((np.stack(placed), np.array(labels, dtype=np.int64)))
    images += rng.standard_normal(images.shape, dtype=np.float32) * NOISE
    pixels = np.clip(np.rint(images), 0, 255).astype(np.uint8)
    index = [
        Annotated(boxes, labels, size, size, None, pixels[i], i if i < n_val else i - n_val)
        for i, (boxes, labels) in enumerate(samples)
    ]
    return DetectionIndex(
        train=index[n_val:],
        val=index[:n_val],
        class_names=list(SHAPE_KINDS[:num_classes]),
        notes=[],
        source=f"shapes generated, seed {seed} (train {n - n_val}, val {n_val})",
    )
