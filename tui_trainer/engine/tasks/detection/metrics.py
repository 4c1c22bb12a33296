"""Detection validation: COCO mAP, precision and recall over the whole set, one sample's boxes.

`update` takes the model's eval outputs (per image: `boxes` xyxy in network pixels, `scores`,
`labels` 0-based) and the loader's targets (`boxes`, `labels`, `image_id`, `letterbox` =
(scale, pad_x, pad_y, 0), `orig_size` = (h, w)); it moves them to the CPU (a few copies per
batch, never one per image), maps every box back to the ORIGINAL image's pixels
(`orig = (net - pad) / scale`, clipped to the image) and keeps compact numpy arrays.
`compute` gathers every rank's images to every rank (a multi-process run validates shards),
drops repeated image ids (padded shards), and runs ONE COCO evaluation
(`coco_metrics.evaluate`, where the metrics are defined): val_map, val_map50, val_map75,
val_precision, val_recall. `report` and `details` read that evaluation (no collective).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from tui_trainer.engine.distributed import SINGLE, DistContext
from tui_trainer.engine.tasks.detection.coco_metrics import (
    RECALL_POINTS,
    CocoResult,
    ImageResult,
    evaluate,
)
from tui_trainer.engine.tasks.detection.preview import render_boxes

PREVIEW_COLS = 48  # the report's picture width in characters
PREVIEW_CONF = 0.25  # predictions drawn in the picture: score >= this (predict's default)
PREVIEW_MAX = 20  # and at most this many, best first


def unletterbox(boxes: np.ndarray, letterbox: np.ndarray, width: int, height: int) -> np.ndarray:
    """(k, 4) xyxy network-pixel boxes in the original image's pixels, clipped to it (float32).

    `letterbox` is (scale, pad_x, pad_y, ...) with `net = orig * scale + pad`.
    """
    scale, pad_x, pad_y = (float(v) for v in letterbox[:3])
    pad = np.array([pad_x, pad_y, pad_x, pad_y], dtype=np.float64)
    orig = (boxes.astype(np.float64).reshape(-1, 4) - pad) / scale
    orig[:, 0::2] = orig[:, 0::2].clip(0, width)
    orig[:, 1::2] = orig[:, 1::2].clip(0, height)
    return orig.astype(np.float32)


@dataclass(frozen=True)
class BoxPreview:
    """One validation image's true and predicted boxes (original pixels) for the report."""

    image: ImageResult

    def render(self, cols: int, class_names: list[str]) -> list[str]:
        """Text lines of the picture (see `preview.render_boxes`): predictions with a score of
        at least PREVIEW_CONF, the best PREVIEW_MAX."""
        im = self.image
        keep = np.flatnonzero(im.scores >= PREVIEW_CONF)
        keep = keep[np.argsort(-im.scores[keep], kind="mergesort")][:PREVIEW_MAX]
        return render_boxes(
            im.width,
            im.height,
            im.true_boxes,
            im.true_labels,
            im.boxes[keep],
            im.labels[keep],
            im.scores[keep],
            class_names,
            cols,
        )


class DetectionEvaluator:
    """COCO detection metrics over the (gathered) validation set plus one sample's boxes."""

    sharded_validation = True  # results are whole-set numbers even when each rank sees a shard

    def __init__(self, num_classes: int, device: torch.device, dist: DistContext = SINGLE) -> None:
        self.num_classes = num_classes  # real classes (0-based ids, no background)
        self.device = device
        self.dist = dist
        self._images: list[ImageResult] = []
        self._sample: ImageResult | None = None
        self._result: CocoResult | None = None

    def reset(self) -> None:
        """Start a new validation pass."""
        self._images = []
        self._sample = None
        self._result = None

    def update(self, outputs: list[dict[str, torch.Tensor]], targets: list[dict[str, Any]]) -> None:
        """Add one batch: per image the model's `boxes`/`scores`/`labels` and its target."""
        if len(outputs) != len(targets):
            raise ValueError(f"{len(outputs)} outputs for {len(targets)} targets in a batch")
        if not targets:
            return
        preds = _host_split(
            [
                torch.cat(
                    [
                        o["boxes"].detach().float().reshape(-1, 4),
                        o["scores"].detach().float().reshape(-1, 1),
                        o["labels"].detach().float().reshape(-1, 1),
                    ],
                    dim=1,
                )
                for o in outputs
            ]
        )
        trues = _host_split(
            [
                torch.cat(
                    [t["boxes"].float().reshape(-1, 4), t["labels"].float().reshape(-1, 1)], dim=1
                )
                for t in targets
            ]
        )
        letterbox = torch.stack([t["letterbox"].float().reshape(-1)[:3] for t in targets])
        ints = torch.stack(
            [torch.cat([t["orig_size"].reshape(2), t["image_id"].reshape(1)]) for t in targets]
        )
        lb_np, ints_np = letterbox.cpu().double().numpy(), ints.cpu().long().numpy()
        for pred, true, lb, row in zip(preds, trues, lb_np, ints_np, strict=True):
            height, width, image_id = int(row[0]), int(row[1]), int(row[2])
            labels = pred[:, 5].astype(np.int64)
            bad = labels[(labels < 0) | (labels >= self.num_classes)]
            if bad.size:
                raise ValueError(
                    f"the model predicted class id {int(bad[0])}; the data has "
                    f"{self.num_classes} classes (0..{self.num_classes - 1})"
                )
            image = ImageResult(
                image_id=image_id,
                width=width,
                height=height,
                true_boxes=unletterbox(true[:, :4], lb, width, height),
                true_labels=true[:, 4].astype(np.int64),
                boxes=unletterbox(pred[:, :4], lb, width, height),
                scores=pred[:, 4].astype(np.float32),
                labels=labels,
            )
            self._images.append(image)
            if self._sample is None:
                self._sample = image

    def _gathered(self) -> list[ImageResult]:
        """Every rank's images (each image id once, first seen kept), on every rank."""
        parts = self.dist.gather_objects(self._images) if self.dist.enabled else [self._images]
        seen: set[int] = set()
        images = []
        for part in parts:
            for im in part:
                if im.image_id not in seen:
                    seen.add(im.image_id)
                    images.append(im)
        return images

    def compute(self) -> dict[str, float]:
        """The pass's val_map, val_map50, val_map75, val_precision and val_recall (all ranks
        get the same numbers; one gather, one COCO evaluation). See `coco_metrics`."""
        self._result = evaluate(self._gathered(), self.num_classes)
        return self._result.metrics()

    def preview(self) -> BoxPreview | None:
        """This rank's first validation image (None before validation)."""
        return None if self._sample is None else BoxPreview(self._sample)

    def _names(self, class_names: list[str]) -> list[str]:
        names = list(class_names[: self.num_classes])
        return names + [f"class_{i}" for i in range(len(names), self.num_classes)]

    def details(self, class_names: list[str]) -> dict[str, Any]:
        """The last pass as plain values: `per_class` ({name: instances, ap, ap50, precision,
        recall}; None where undefined), `pr_curves` ({name: recall, precision} at IoU .50,
        101 points, classes with boxes), and `score_threshold` of precision/recall."""
        result = self._result
        if result is None:
            return {}
        names = self._names(class_names)
        per_class = {
            name: {
                "instances": c.instances,
                "ap": c.ap,
                "ap50": c.ap50,
                "precision": c.precision,
                "recall": c.recall,
            }
            for name, c in zip(names, result.per_class, strict=True)
        }
        curves = {
            name: {"recall": list(RECALL_POINTS), "precision": c.pr_precision}
            for name, c in zip(names, result.per_class, strict=True)
            if c.pr_precision is not None
        }
        return {
            "per_class": per_class,
            "pr_curves": curves,
            "score_threshold": result.threshold,
            "images": result.images,
        }

    def report(self, class_names: list[str]) -> str:
        """Per-class table (instances, AP, AP50, precision, recall) of the last pass, then a
        picture of this rank's first validation image with its true and predicted boxes."""
        result = self._result
        if result is None:
            return ""
        names = self._names(class_names)
        w = max(12, *(len(n) for n in names)) + 2
        head = f"{'class':<{w}}{'boxes':>8}{'AP':>8}{'AP50':>8}{'P':>8}{'R':>8}"
        lines = [head]
        for name, c in zip(names, result.per_class, strict=True):
            cells = (c.ap, c.ap50, c.precision, c.recall)
            lines.append(f"{name:<{w}}{c.instances:>8,}" + "".join(_cell(v) for v in cells))
        total = sum(c.instances for c in result.per_class)
        means = (result.map, result.map50, result.precision, result.recall)
        lines.append(f"{'all':<{w}}{total:>8,}" + "".join(_cell(v) for v in means))
        thr = "" if result.threshold is None else f" at score >= {result.threshold:.3f}"
        lines.append(
            f"AP: COCO mAP@[.5:.95]; AP50 at IoU .5; P, R at IoU .5{thr} (best mean F1); "
            f"{result.images:,} images"
        )
        sample = self.preview()
        if sample is not None:
            im = sample.image
            lines.append("")
            lines.append(f"validation image {im.image_id} ({im.width}x{im.height}):")
            lines += sample.render(PREVIEW_COLS, names)
        return "\n".join(lines)


def _cell(value: float | None) -> str:
    return f"{'-':>8}" if value is None else f"{value:>8.4f}"


def _host_split(rows: list[torch.Tensor]) -> list[np.ndarray]:
    """Per-image (k, c) float tensors as float64 numpy arrays, copied to the host at once."""
    sizes = [int(r.shape[0]) for r in rows]
    flat = torch.cat(rows).cpu().double().numpy()
    return np.split(flat, np.cumsum(sizes)[:-1])
