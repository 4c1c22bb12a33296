"""Collecting pictures in a classification or segmentation pass, on the device.

Per batch: the rows at the fixed sample positions are cut out, and the batch's worst
candidates merged into the kept worst (`keep.TopRows`); images are de-normalised and shrunk
to the tile size before they are kept. Nothing reaches the host before `finish`.
"""

from __future__ import annotations

from typing import Any

import torch

from tui_trainer.engine.pictures.images import displayable, nearest, shrink
from tui_trainer.engine.pictures.keep import Fields, TopRows, rows_in_batch, sample_positions
from tui_trainer.engine.pictures.scores import image_dice
from tui_trainer.engine.pictures.shots import Captured, Shot
from tui_trainer.engine.tasks.segmentation.metrics import hard_predictions


class TensorCollector:
    """Pictures of a classification or segmentation pass (`task`)."""

    def __init__(
        self,
        task: str,
        *,
        samples: int,
        mistakes: int,
        total: int,
        size: int,
        num_classes: int,
        mean: tuple[float, ...] = (0.0,),
        std: tuple[float, ...] = (1.0,),
    ) -> None:
        self.task, self.size, self.num_classes = task, size, num_classes
        self.mean, self.std = mean, std
        self.positions = sample_positions(samples, total)
        self._rows: torch.Tensor | None = None  # the positions on the device, made once
        self.worst = TopRows(mistakes)
        self.parts: list[Fields] = []
        self.offset = 0
        self.skipped = ""
        self.counts: torch.Tensor | None = None  # classification: confusion counts (K*K)

    def update(self, x: torch.Tensor, targets: Any, outputs: Any) -> None:
        """One batch (see the module docstring); outputs it cannot read turn it off."""
        if self.skipped:
            return
        self.skipped = self._check(x, targets, outputs)
        if self.skipped:
            return
        b, offset = int(x.shape[0]), self.offset
        self.offset += b
        if self.task == "classification":
            key, fields = self._classes(x, targets, outputs, offset)
        else:
            key, fields = self._masks(x, targets, outputs, offset)
        chosen = rows_in_batch(self.positions, offset, b)
        if chosen:
            if self._rows is None:
                self._rows = torch.tensor(self.positions, dtype=torch.int64).to(x.device)
            first = self.positions.index(chosen[0] + offset)
            self.parts.append(fields(self._rows[first : first + len(chosen)] - offset))
        self.worst.offer(key, fields)

    def _check(self, x: torch.Tensor, y: Any, out: Any) -> str:
        b = int(x.shape[0])
        if not isinstance(out, torch.Tensor) or not isinstance(y, torch.Tensor):
            return "the outputs or targets are not tensors"
        if self.task == "classification" and (out.dim() != 2 or y.dim() != 1):
            return f"expected (N, classes) logits and (N,) targets, got {tuple(out.shape)}"
        if self.task == "segmentation" and (
            out.dim() != 4 or y.dim() != 3 or out.shape[-2:] != y.shape[-2:]
        ):
            return f"expected (N, C, H, W) logits and (N, H, W) masks, got {tuple(out.shape)}"
        if out.shape[0] != b or y.shape[0] != b:
            return "the outputs do not have one row per image"
        return ""

    def _image(self, x: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
        return shrink(displayable(x.index_select(0, rows), self.mean, self.std), self.size)

    def _classes(self, x: torch.Tensor, y: torch.Tensor, logits: torch.Tensor, offset: int) -> Any:
        probs = logits.float().softmax(dim=1)
        conf, pred = probs.max(dim=1)
        k = int(logits.shape[1])
        if self.counts is None:
            self.counts = torch.zeros(k * k, dtype=torch.int64, device=x.device)
        valid = ((y >= 0) & (y < k)).to(torch.int64)  # no boolean indexing: no host sync
        self.counts.index_add_(0, y.clamp(0, k - 1) * k + pred, valid)
        key = torch.where(pred == y, torch.full_like(conf, float("-inf")), conf)

        def fields(rows: torch.Tensor) -> Fields:
            return {
                "position": rows + offset,
                "image": self._image(x, rows),
                "true": y.index_select(0, rows),
                "pred": pred.index_select(0, rows),
                "confidence": conf.index_select(0, rows),
            }

        return key, fields

    def _masks(self, x: torch.Tensor, y: torch.Tensor, logits: torch.Tensor, offset: int) -> Any:
        pred = hard_predictions(logits)
        dice = image_dice(pred, y, self.num_classes)

        def fields(rows: torch.Tensor) -> Fields:
            image = self._image(x, rows)
            h, w = int(image.shape[-2]), int(image.shape[-1])
            return {
                "position": rows + offset,
                "image": image,
                "true_mask": nearest(y.index_select(0, rows), h, w),
                "pred_mask": nearest(pred.index_select(0, rows), h, w),
                "score": dice.index_select(0, rows),
            }

        return -dice, fields

    def finish(self) -> Captured:
        """The samples in position order and the mistakes worst first, on the host."""
        captured = Captured(self.task, skipped=self.skipped)
        if self.skipped:
            return captured
        if self.parts:
            both = {n: torch.cat([p[n] for p in self.parts]).cpu() for n in self.parts[0]}
            captured.samples = _shots(both)
        _, worst = self.worst.host()
        captured.mistakes = _shots(worst)
        if self.counts is not None:
            k = round(self.counts.numel() ** 0.5)
            captured.confusion = self.counts.cpu().view(k, k).tolist()
        return captured


def _shots(fields: Fields) -> list[Shot]:
    """Host rows as `Shot`s."""
    if not fields:
        return []
    shots = []
    for i in range(int(fields["position"].shape[0])):
        shot = Shot(position=int(fields["position"][i]), image=fields["image"][i])
        if "true" in fields:
            shot.true_id, shot.pred_id = int(fields["true"][i]), int(fields["pred"][i])
            shot.confidence = float(fields["confidence"][i])
        if "score" in fields:
            shot.score = float(fields["score"][i])
            shot.true_mask, shot.pred_mask = fields["true_mask"][i], fields["pred_mask"][i]
        shots.append(shot)
    return shots
