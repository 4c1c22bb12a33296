"""Detection validation metrics: COCO mAP equal to pycocotools' on letterboxed predictions,
precision/recall at the best-F1 threshold, empty passes, the per-class details and report."""

from __future__ import annotations

import contextlib
import io
import math

import numpy as np
import pytest
import torch
from support.detmetrics import NAMES, NUM_CLASSES, fixed_set, letterbox, pycocotools_stats, to_batch

from tui_trainer.engine.tasks.detection.coco_metrics import RECALL_POINTS
from tui_trainer.engine.tasks.detection.metrics import DetectionEvaluator, unletterbox

CPU = torch.device("cpu")
KEYS = {"val_map", "val_map50", "val_map75", "val_precision", "val_recall"}


def _evaluated(images, batch: int = 3) -> DetectionEvaluator:
    ev = DetectionEvaluator(NUM_CLASSES, CPU)
    ev.reset()
    outputs, targets = to_batch(images)
    for i in range(0, len(images), batch):
        ev.update(outputs[i : i + batch], targets[i : i + batch])
    return ev


@pytest.mark.parametrize("seed", [7, 11, 23])
def test_map_equals_pycocotools_on_letterboxed_predictions(seed: int) -> None:
    images = fixed_set(seed)
    metrics = _evaluated(images).compute()
    with contextlib.redirect_stdout(io.StringIO()):
        ref = pycocotools_stats(images)  # original pixels, computed without our code
    assert metrics["val_map"] == pytest.approx(ref[0], abs=1e-9)
    assert metrics["val_map50"] == pytest.approx(ref[1], abs=1e-9)
    assert metrics["val_map75"] == pytest.approx(ref[2], abs=1e-9)
    assert 0 < metrics["val_map"] < metrics["val_map50"] <= 1


def test_every_metric_is_a_float_and_one_call_gives_them_all() -> None:
    metrics = _evaluated(fixed_set()).compute()
    assert set(metrics) == KEYS
    assert all(type(v) is float and math.isfinite(v) for v in metrics.values())


def test_padded_duplicates_count_once() -> None:
    images = fixed_set()
    once = _evaluated(images).compute()
    twice = _evaluated([*images, images[0], images[3]]).compute()  # repeated image ids
    assert twice == once


def _one_image(true_boxes, true_labels, boxes, scores, labels, size=(100, 100)):
    from support.detmetrics import Img

    return Img(
        image_id=1,
        width=size[0],
        height=size[1],
        true_boxes=np.array(true_boxes, dtype=np.float32).reshape(-1, 4),
        true_labels=np.array(true_labels, dtype=np.int64),
        boxes=np.array(boxes, dtype=np.float32).reshape(-1, 4),
        scores=np.array(scores, dtype=np.float32),
        labels=np.array(labels, dtype=np.int64),
    )


def test_precision_recall_at_the_best_mean_f1_threshold() -> None:
    # two boxes of class 0; detections: TP .9, FP .8, TP .3 whose IoU is only 0.6 (still a
    # match at .5). Thresholds: .9 -> P 1, R .5 (F1 .67); .8 -> .5, .5; .3 -> 2/3, 1 (F1 .8).
    a, b = [10, 10, 30, 30], [60, 60, 80, 80]
    shifted = [60, 60, 60 + 400 / 0.6 / 20, 80]  # overlaps b by 400 of 400 / 0.6: IoU 0.6
    image = _one_image([a, b], [0, 0], [a, [40, 0, 50, 10], shifted], [0.9, 0.8, 0.3], [0, 0, 0])
    ev = _evaluated([image])
    metrics = ev.compute()
    assert metrics["val_precision"] == pytest.approx(2 / 3)
    assert metrics["val_recall"] == pytest.approx(1.0)
    details = ev.details(NAMES)
    assert details["score_threshold"] == pytest.approx(0.3)
    assert details["per_class"]["circle"]["precision"] == pytest.approx(2 / 3)


def test_no_predictions_gives_zeros_not_nan() -> None:
    images = fixed_set()
    for im in images:
        im.boxes, im.scores = im.boxes[:0], im.scores[:0]
        im.labels = im.labels[:0]
    ev = _evaluated(images)
    assert ev.compute() == dict.fromkeys(KEYS, 0.0)
    details = ev.details(NAMES)
    assert details["per_class"]["circle"]["ap"] == 0.0
    assert all(v == 0.0 for v in details["pr_curves"]["circle"]["precision"])


def test_an_empty_pass_and_background_only_give_zeros() -> None:
    ev = DetectionEvaluator(NUM_CLASSES, CPU)
    assert ev.compute() == dict.fromkeys(KEYS, 0.0)
    background = _one_image([], [], [[1, 1, 9, 9]], [0.9], [2])
    assert _evaluated([background]).compute() == dict.fromkeys(KEYS, 0.0)


def test_boxes_map_back_to_original_pixels() -> None:
    # a 200 x 100 image letterboxed into 128: scale 0.64, pad_y 32
    scale, px, py = letterbox(200, 100)
    assert (scale, px, py) == (0.64, 0.0, 32.0)
    net = np.array([[0.0, 32.0, 64.0, 64.0], [-5.0, 20.0, 140.0, 100.0]])
    orig = unletterbox(net, np.array([scale, px, py, 0.0]), 200, 100)
    np.testing.assert_allclose(orig[0], [0, 0, 100, 50], atol=1e-4)
    np.testing.assert_allclose(orig[1], [0, 0, 200, 100], atol=1e-4)  # clipped to the image


def test_update_keeps_original_pixels_and_the_first_image() -> None:
    images = fixed_set()
    ev = _evaluated(images)
    kept = ev._images
    assert [k.image_id for k in kept] == [im.image_id for im in images]
    for k, im in zip(kept, images, strict=True):
        np.testing.assert_allclose(k.true_boxes, im.true_boxes, atol=1e-3)
        np.testing.assert_allclose(k.boxes, im.boxes, atol=1e-3)
        assert (k.width, k.height) == (im.width, im.height)
    preview = ev.preview()
    assert preview is not None and preview.image.image_id == images[0].image_id


def test_a_class_id_outside_the_classes_is_refused() -> None:
    ev = DetectionEvaluator(NUM_CLASSES, CPU)
    outputs, targets = to_batch(fixed_set()[:1])
    outputs[0]["labels"] = torch.full_like(outputs[0]["labels"], NUM_CLASSES)
    with pytest.raises(ValueError, match=r"class id 4; the data has 4 classes \(0..3\)"):
        ev.update(outputs, targets)


def test_details_per_class_and_pr_curves() -> None:
    ev = _evaluated(fixed_set())
    assert ev.details(NAMES) == {}  # before compute: nothing evaluated yet
    ev.compute()
    details = ev.details(NAMES)
    assert list(details["per_class"]) == NAMES
    for row in details["per_class"].values():
        assert set(row) == {"instances", "ap", "ap50", "precision", "recall"}
    star = details["per_class"]["star"]  # boxes, never predicted
    assert star["instances"] > 0 and star["ap"] == 0.0 and star["recall"] == 0.0
    curves = details["pr_curves"]
    assert set(curves) == {n for n, r in details["per_class"].items() if r["instances"]}
    circle = curves["circle"]
    assert circle["recall"] == RECALL_POINTS and len(circle["precision"]) == 101
    assert np.mean(circle["precision"]) == pytest.approx(details["per_class"]["circle"]["ap50"])


def test_report_has_every_class_and_the_picture() -> None:
    ev = _evaluated(fixed_set())
    assert ev.report(NAMES) == ""
    metrics = ev.compute()
    text = ev.report(NAMES)
    for name in NAMES:
        assert any(line.startswith(name) for line in text.splitlines())
    assert f"{metrics['val_map']:.4f}" in text
    assert "validation image 100 (640x480)" in text
    assert "┌" in text and "┏" in text  # true and predicted boxes drawn
