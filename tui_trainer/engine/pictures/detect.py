"""Collecting pictures in a detection pass.

A detection's boxes vary in number per image, so its per-image F1 is found on the host, one
copy of the batch's boxes each batch (the detection evaluator copies them too); the kept
images are shrunk on the device and copied once per batch that keeps any.
"""

from __future__ import annotations

from typing import Any

import torch

from tui_trainer.engine.pictures.images import displayable, shrink
from tui_trainer.engine.pictures.keep import rows_in_batch, sample_positions
from tui_trainer.engine.pictures.scores import image_f1
from tui_trainer.engine.pictures.shots import Captured, Shot
from tui_trainer.engine.tasks.detection.metrics import PREVIEW_CONF, PREVIEW_MAX


class DetectionCollector:
    """Pictures of a detection pass: predictions drawn and scored are those with a score of at
    least the task's display threshold (`PREVIEW_CONF`), the best `PREVIEW_MAX`."""

    def __init__(self, *, samples: int, mistakes: int, total: int, size: int) -> None:
        self.size, self.k = size, mistakes
        self.positions = sample_positions(samples, total)
        self.samples: list[Shot] = []
        self.worst: list[Shot] = []  # lowest F1 first, at most k
        self.offset = 0
        self.skipped = ""

    def update(self, x: torch.Tensor, targets: Any, outputs: Any) -> None:
        """One batch of images, box targets and eval outputs (network pixels, 0-based)."""
        if self.skipped:
            return
        if not isinstance(outputs, list) or len(outputs) != int(x.shape[0]):
            self.skipped = "expected one dict of boxes per image"
            return
        b, offset = int(x.shape[0]), self.offset
        self.offset += b
        preds = [
            torch.cat(
                [o["boxes"].float().reshape(-1, 4), o["scores"].float().reshape(-1, 1),
                 o["labels"].float().reshape(-1, 1)], dim=1,
            )
            for o in outputs
        ]  # fmt: skip
        trues = [
            torch.cat([t["boxes"].float().reshape(-1, 4), t["labels"].float().reshape(-1, 1)], 1)
            for t in targets
        ]
        preds_h, trues_h = _host(preds), _host(trues)
        shown = [_shown(p) for p in preds_h]
        f1 = [
            image_f1(t[:, :4], t[:, 4].long(), p[:, :4], p[:, 4], p[:, 5].long())
            for t, p in zip(trues_h, shown, strict=True)
        ]
        chosen = set(rows_in_batch(self.positions, offset, b))
        # candidates: the kept shots and this batch's rows (as positions), lowest F1 first
        kept = [(float(s.score or 0.0), s.position, s) for s in self.worst]
        new = [(f1[i], offset + i, None) for i in range(b)]
        merged = sorted([*kept, *new], key=lambda c: (c[0], c[1]))[: self.k]
        keep_rows = sorted(chosen | {c[1] - offset for c in merged if c[2] is None})
        if not keep_rows:
            return
        rows = torch.tensor(keep_rows, device=x.device)
        images = shrink(displayable(x.index_select(0, rows), (0.0,), (1.0,)), self.size).cpu()
        scale = images.shape[-1] / x.shape[-1]
        shots = {}
        for n, i in enumerate(keep_rows):
            true, pred = trues_h[i].clone(), shown[i].clone()
            true[:, :4] *= scale
            pred[:, :4] *= scale
            shots[i] = Shot(offset + i, images[n], score=f1[i], true_boxes=true, pred_boxes=pred)
        self.samples += [shots[i] for i in sorted(chosen)]
        self.worst = [c[2] if c[2] is not None else shots[c[1] - offset] for c in merged]

    def finish(self) -> Captured:
        """The samples in position order and the mistakes lowest F1 first."""
        captured = Captured("detection", skipped=self.skipped)
        if not self.skipped:
            captured.samples = self.samples
            captured.mistakes = list(self.worst)
        return captured


def _shown(pred: torch.Tensor) -> torch.Tensor:
    """The predictions a picture shows: score ≥ PREVIEW_CONF, the best PREVIEW_MAX."""
    pred = pred[pred[:, 4] >= PREVIEW_CONF]
    order = torch.argsort(pred[:, 4], descending=True, stable=True)[:PREVIEW_MAX]
    return pred[order]


def _host(rows: list[torch.Tensor]) -> list[torch.Tensor]:
    """Per-image row tensors on the host in one copy (their sizes are known on the host)."""
    if not rows:
        return []
    return list(torch.cat(rows).cpu().split([int(r.shape[0]) for r in rows]))
