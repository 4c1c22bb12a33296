"""COCO box evaluation of one validation pass (`faster_coco_eval`), plus precision and recall.

Everything here is in ORIGINAL image pixels and 0-based class ids; the COCO objects are built
in memory (images numbered 1..N, category id = class id + 1, annotation ids from 1, because
COCO's matcher uses id 0 as "unmatched"). Each box is COCO `xywh`, its area `w * h`, iscrowd 0.
Images without boxes are part of the set (background: their detections are false positives).

The numbers:
- `map`, `map50`, `map75`: COCO AP averaged over IoU .50:.05:.95, at IoU .50 and at .75 (all
  areas, at most 100 detections per image and class), averaged over the classes that have
  boxes in the set. A class without boxes has no AP (None) and is not in the mean.
- `precision`, `recall`: at IoU .50 and ONE detection-score threshold, the one at which the
  mean F1 over the classes with boxes is highest (how Ultralytics reports P and R): the means
  over those classes of TP / detections kept and TP / boxes. Matches are COCO's own at IoU .50.
- `pr_curves`: per class with boxes, COCO's interpolated precision at its 101 recall points
  (IoU .50), i.e. the curve whose mean is AP50.

An empty set (no boxes, no detections) gives 0.0 everywhere, never NaN.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

MAX_DETS = 100  # COCO's per-image (and class) detection limit for AP at maxDets=100
MAX_THRESHOLDS = 1000  # candidate score thresholds for the best-F1 precision/recall


@dataclass(frozen=True)
class ImageResult:
    """One validation image's true boxes and detections, in original pixels (CPU numpy)."""

    image_id: int
    width: int
    height: int
    true_boxes: np.ndarray  # float32 (k, 4) xyxy
    true_labels: np.ndarray  # int64 (k,)
    boxes: np.ndarray  # float32 (d, 4) xyxy
    scores: np.ndarray  # float32 (d,)
    labels: np.ndarray  # int64 (d,)


@dataclass(frozen=True)
class ClassResult:
    """One class's results; None where undefined (no boxes of it in the set)."""

    instances: int
    ap: float | None
    ap50: float | None
    precision: float | None  # at the chosen score threshold (None: nothing kept, no boxes)
    recall: float | None
    pr_precision: list[float] | None  # at RECALL_POINTS, IoU .50


@dataclass(frozen=True)
class CocoResult:
    """A validation pass's detection metrics (see the module docstring)."""

    map: float = 0.0
    map50: float = 0.0
    map75: float = 0.0
    precision: float = 0.0
    recall: float = 0.0
    threshold: float | None = None  # the score threshold of `precision`/`recall`
    images: int = 0
    per_class: list[ClassResult] = field(default_factory=list)

    def metrics(self) -> dict[str, float]:
        """The epoch-line metrics: val_map, val_map50, val_map75, val_precision, val_recall."""
        return {
            "val_map": self.map,
            "val_map50": self.map50,
            "val_map75": self.map75,
            "val_precision": self.precision,
            "val_recall": self.recall,
        }


RECALL_POINTS: list[float] = np.linspace(0.0, 1.0, 101).round(2).tolist()


def xywh(boxes: np.ndarray) -> np.ndarray:
    """COCO (x, y, w, h) of (k, 4) xyxy boxes, as float64."""
    b = boxes.astype(np.float64).reshape(-1, 4)
    return np.concatenate([b[:, :2], b[:, 2:] - b[:, :2]], axis=1)


def top_per_class(scores: np.ndarray, labels: np.ndarray, limit: int = MAX_DETS) -> np.ndarray:
    """Indices of the detections COCO evaluates: each class's `limit` best scores (stable order,
    as COCO sorts), in their original order."""
    if len(scores) <= limit:
        return np.arange(len(scores))
    keep = []
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        order = np.argsort(-scores[idx], kind="mergesort")[:limit]
        keep.append(idx[order])
    return np.sort(np.concatenate(keep))


def coco_datasets(
    images: list[ImageResult], num_classes: int
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """(ground-truth dataset dict, detection list) in COCO's layout (ids as the docstring says)."""
    cats = [{"id": c + 1, "name": str(c)} for c in range(num_classes)]
    gt_images: list[dict[str, Any]] = []
    gt_anns: list[dict[str, Any]] = []
    dets: list[dict[str, Any]] = []
    for n, im in enumerate(images, start=1):
        gt_images.append({"id": n, "width": im.width, "height": im.height})
        for box, label in zip(xywh(im.true_boxes).tolist(), im.true_labels.tolist(), strict=True):
            gt_anns.append(
                {
                    "id": len(gt_anns) + 1,
                    "image_id": n,
                    "category_id": int(label) + 1,
                    "bbox": box,
                    "area": box[2] * box[3],
                    "iscrowd": 0,
                }
            )
        keep = top_per_class(im.scores, im.labels)
        boxes = xywh(im.boxes[keep]).tolist()
        for box, score, label in zip(
            boxes, im.scores[keep].tolist(), im.labels[keep].tolist(), strict=True
        ):
            dets.append(
                {
                    "id": len(dets) + 1,
                    "image_id": n,
                    "category_id": int(label) + 1,
                    "bbox": box,
                    "score": float(score),
                    "area": box[2] * box[3],
                    "iscrowd": 0,
                }
            )
    gt = {"images": gt_images, "annotations": gt_anns, "categories": cats}
    return gt, dets


def evaluate(images: list[ImageResult], num_classes: int) -> CocoResult:
    """The pass's COCO metrics and per-class results (one evaluation)."""
    gt, dets = coco_datasets(images, num_classes)
    instances = np.bincount(
        [a["category_id"] - 1 for a in gt["annotations"]], minlength=num_classes
    )[:num_classes]
    if not dets or not gt["annotations"]:
        return _without_matches(images, num_classes, instances, dets)
    from faster_coco_eval import COCO, COCOeval_faster  # only detection runs load it

    def quiet(*_: object) -> None:
        return None

    coco_gt = COCO(gt, print_function=quiet)
    coco_dt = COCO(
        {"images": gt["images"], "annotations": dets, "categories": gt["categories"]},
        print_function=quiet,
    )
    ev = COCOeval_faster(coco_gt, coco_dt, "bbox", print_function=quiet)
    ev.params.maxDets = [1, 10, MAX_DETS]
    ev.evaluate()
    ev.accumulate()
    ev.summarize()
    stats = [float(s) for s in ev.stats[:3]]
    # precision[T, R, K, A, M]: IoU thresholds, recall points, classes, areas (0: all), maxDets
    prec = np.asarray(ev.eval["precision"])[:, :, :, 0, -1]
    tp_ids = {int(k.split("_", 1)[0]) for k in ev.eval["matched"]}
    p, r, thr, cls_p, cls_r = best_f1(dets, tp_ids, instances)
    per_class = []
    for k in range(num_classes):
        has = instances[k] > 0
        curve = prec[0, :, k]
        per_class.append(
            ClassResult(
                instances=int(instances[k]),
                ap=_mean_valid(prec[:, :, k]) if has else None,
                ap50=_mean_valid(curve) if has else None,
                precision=cls_p[k],
                recall=cls_r[k],
                pr_precision=np.clip(curve, 0, None).tolist() if has else None,
            )
        )
    return CocoResult(
        map=max(stats[0], 0.0),
        map50=max(stats[1], 0.0),
        map75=max(stats[2], 0.0),
        precision=p,
        recall=r,
        threshold=thr,
        images=len(images),
        per_class=per_class,
    )


def _mean_valid(values: np.ndarray) -> float:
    valid = values[values > -1]
    return float(valid.mean()) if valid.size else 0.0


def _without_matches(
    images: list[ImageResult], num_classes: int, instances: np.ndarray, dets: list[dict[str, Any]]
) -> CocoResult:
    """No detections or no boxes: every AP, precision and recall is 0 (or undefined)."""
    predicted = np.bincount([d["category_id"] - 1 for d in dets], minlength=num_classes)[
        :num_classes
    ]
    per_class = [
        ClassResult(
            instances=int(instances[k]),
            ap=0.0 if instances[k] else None,
            ap50=0.0 if instances[k] else None,
            precision=0.0 if predicted[k] or instances[k] else None,
            recall=0.0 if instances[k] else None,
            pr_precision=[0.0] * len(RECALL_POINTS) if instances[k] else None,
        )
        for k in range(num_classes)
    ]
    return CocoResult(images=len(images), per_class=per_class)


def best_f1(
    dets: list[dict[str, Any]], tp_ids: set[int], instances: np.ndarray
) -> tuple[float, float, float | None, list[float | None], list[float | None]]:
    """(mean precision, mean recall, threshold, per-class precision, per-class recall) at the
    score threshold with the highest mean F1 over the classes with boxes (IoU .50 matches).

    Candidate thresholds are the detections' distinct scores (at most MAX_THRESHOLDS of them,
    evenly spread by rank); a detection is kept when its score >= the threshold.
    """
    k = len(instances)
    scores = np.array([d["score"] for d in dets], dtype=np.float64)
    labels = np.array([d["category_id"] - 1 for d in dets], dtype=np.int64)
    is_tp = np.array([d["id"] in tp_ids for d in dets], dtype=np.float64)
    thresholds = np.unique(scores)
    if len(thresholds) > MAX_THRESHOLDS:
        pick = np.linspace(0, len(thresholds) - 1, MAX_THRESHOLDS).round().astype(np.int64)
        thresholds = thresholds[np.unique(pick)]
    kept = np.zeros((k, len(thresholds)))
    tps = np.zeros((k, len(thresholds)))
    for c in range(k):
        mine = labels == c
        order = np.argsort(-scores[mine], kind="mergesort")
        s, cum_tp = scores[mine][order], np.cumsum(is_tp[mine][order])
        n = np.searchsorted(-s, -thresholds, side="right")  # detections with score >= t
        kept[c] = n
        tps[c] = np.where(n > 0, cum_tp[np.maximum(n - 1, 0)] if len(s) else 0, 0)
    precision = np.divide(tps, kept, out=np.zeros_like(tps), where=kept > 0)
    recall = tps / np.maximum(instances, 1)[:, None]
    f1 = np.divide(
        2 * precision * recall,
        precision + recall,
        out=np.zeros_like(tps),
        where=precision + recall > 0,
    )
    present = instances > 0
    if not present.any():
        return 0.0, 0.0, None, [None] * k, [None] * k
    best = int(np.argmax(f1[present].mean(axis=0)))  # first (lowest threshold) of equal bests
    cls_p: list[float | None] = [
        float(precision[c, best]) if present[c] or kept[c, best] > 0 else None for c in range(k)
    ]
    cls_r: list[float | None] = [float(recall[c, best]) if present[c] else None for c in range(k)]
    return (
        float(precision[present, best].mean()),
        float(recall[present, best].mean()),
        float(thresholds[best]),
        cls_p,
        cls_r,
    )
