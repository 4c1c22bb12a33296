"""Generated detection shapes: deterministic from the seed, boxes exactly on the drawn shapes,
sizes, counts and overlap as documented, quick to make."""

from __future__ import annotations

import time

import numpy as np
import pytest

from tui_trainer.engine.tasks.detection.shapes import MAX_IOU, SHAPE_KINDS, generate_shapes
from tui_trainer.errors import UserError


def test_same_seed_same_data_other_seed_other_data() -> None:
    a, b = generate_shapes(20, 48, 5), generate_shapes(20, 48, 5)
    c = generate_shapes(20, 48, 6)
    for x, y in zip(a.train + a.val, b.train + b.val, strict=True):
        np.testing.assert_array_equal(x.pixels, y.pixels)
        np.testing.assert_array_equal(x.boxes, y.boxes)
        np.testing.assert_array_equal(x.labels, y.labels)
    assert any(
        not np.array_equal(x.pixels, z.pixels) for x, z in zip(a.train, c.train, strict=True)
    )


def test_boxes_sit_exactly_on_the_drawn_shapes() -> None:
    index = generate_shapes(300, 64, 0, num_classes=6, max_shapes=1)
    for sample in index.train + index.val:
        assert sample.pixels is not None
        pixels = sample.pixels.astype(np.int32)
        background = np.median(pixels.reshape(-1, 3), axis=0)
        drawn = np.abs(pixels - background).sum(-1) > 90
        ys, xs = np.nonzero(drawn)
        found = np.array([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1])
        (box,) = sample.boxes
        # Every shape reaches every side of its box, pointed ones included.
        assert np.array_equal(found, box), (SHAPE_KINDS[sample.labels[0]], found, box)


def test_sizes_counts_overlap_and_splits() -> None:
    index = generate_shapes(200, 80, 1, num_classes=4, max_shapes=4, val_fraction=0.25)
    assert index.class_names == ["rectangle", "ellipse", "triangle", "diamond"]
    assert (len(index.train), len(index.val)) == (150, 50)
    assert [a.image_id for a in index.val] == list(range(50))
    assert [a.image_id for a in index.train] == list(range(150))
    counts = []
    for a in index.train + index.val:
        assert a.boxes.dtype == np.float32 and a.labels.dtype == np.int64
        assert (
            a.pixels is not None
            and a.pixels.shape == (80, 80, 3)
            and (a.width, a.height) == (80, 80)
        )
        sides = np.concatenate([a.boxes[:, 2] - a.boxes[:, 0], a.boxes[:, 3] - a.boxes[:, 1]])
        assert sides.min() >= 12 and sides.max() <= 40  # 15% and 50% of 80
        assert a.boxes.min() >= 0 and a.boxes.max() <= 80
        assert set(a.labels.tolist()) <= {0, 1, 2, 3}
        for i in range(len(a.boxes)):
            for j in range(i):
                assert _iou(a.boxes[i], a.boxes[j]) <= MAX_IOU + 1e-6
        counts.append(len(a.boxes))
    assert min(counts) == 1 and max(counts) == 4
    assert index.source == "shapes generated, seed 1 (train 150, val 50)"


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    area = lambda r: (r[2] - r[0]) * (r[3] - r[1])  # noqa: E731
    return float(inter / (area(a) + area(b) - inter))


def test_class_count_refused_outside_the_kinds() -> None:
    with pytest.raises(UserError) as info:
        generate_shapes(10, 64, 0, num_classes=7)
    assert info.value.key == "data.num_classes"
    assert str(info.value) == (
        "data.num_classes: generated shapes have 1 to 6 classes (rectangle, ellipse, triangle, "
        "diamond, cross, ring), got 7"
    )


def test_quick_to_make() -> None:
    start = time.perf_counter()
    generate_shapes(512, 64, 0)
    assert time.perf_counter() - start < 3.0  # about 0.4 s on a shared 2-core machine
