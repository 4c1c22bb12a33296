"""Segmentation metrics: Dice and IoU per class and their means, accumulated on the device.

Predictions are hard: binary outputs (1 channel) are foreground where sigmoid > 0.5 (logit > 0),
multi-class outputs take the argmax. Validation sums per-class pixel counts (intersection,
predicted, true) over the whole set as int64 tensors on the device, so `update` never syncs;
`compute` syncs once. A class that is neither present nor predicted scores 1.0 (nothing to
find, nothing found). `val_dice`/`val_iou` are means over the foreground classes (for binary
data: the foreground's score, as in the Carvana tutorial); the report lists every class.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from tui_trainer.engine.tasks.segmentation.preview import render_mask_pair

PREVIEW_MAX = 64  # preview masks are downsampled to at most this many pixels a side


def hard_predictions(logits: torch.Tensor) -> torch.Tensor:
    """(N, H, W) int64 class indices from (N, C, H, W) logits (C = 1: logit > 0)."""
    if logits.shape[1] == 1:
        return (logits[:, 0] > 0).to(torch.int64)
    return logits.argmax(dim=1)


def class_counts(preds: torch.Tensor, targets: torch.Tensor, num_classes: int) -> torch.Tensor:
    """(3, K) int64: per-class intersection, predicted and true pixel counts (no host sync)."""
    classes = torch.arange(num_classes, device=preds.device).view(1, -1, 1, 1)
    p = preds.unsqueeze(1) == classes
    t = targets.unsqueeze(1) == classes
    dims = (0, 2, 3)
    return torch.stack([(p & t).sum(dims), p.sum(dims), t.sum(dims)])


def dice_from_counts(counts: torch.Tensor) -> torch.Tensor:
    """Per-class Dice 2|P∩T| / (|P| + |T|) from (3, K) counts; 1.0 where both are empty."""
    inter, pred, true = counts.double()
    denom = pred + true
    return torch.where(denom > 0, 2 * inter / denom.clamp_min(1), torch.ones_like(denom))


def iou_from_counts(counts: torch.Tensor) -> torch.Tensor:
    """Per-class IoU |P∩T| / |P∪T| from (3, K) counts; 1.0 where both are empty."""
    inter, pred, true = counts.double()
    union = pred + true - inter
    return torch.where(union > 0, inter / union.clamp_min(1), torch.ones_like(union))


def batch_dice(logits: torch.Tensor, targets: torch.Tensor, num_classes: int) -> torch.Tensor:
    """The batch's mean foreground Dice of hard predictions, as a device scalar (no sync)."""
    counts = class_counts(hard_predictions(logits), targets, num_classes)
    return dice_from_counts(counts)[1:].mean().float()


@dataclass(frozen=True)
class MaskPreview:
    """One validation sample's predicted and true masks (CPU uint8, at most 64x64)."""

    pred: torch.Tensor  # (H, W) class indices
    true: torch.Tensor  # (H, W) class indices
    num_classes: int
    dice: float  # this sample's mean foreground Dice

    def render(self, width: int, class_names: list[str] | None = None) -> list[str]:
        """Text lines of the pair (see `preview.render_mask_pair`)."""
        return render_mask_pair(self.pred, self.true, width, class_names)


class SegmentationEvaluator:
    """Validation Dice and IoU (per class and mean) plus one sample kept for a preview."""

    def __init__(self, num_classes: int, device: torch.device) -> None:
        self.num_classes = num_classes
        self.counts = torch.zeros(3, num_classes, dtype=torch.int64, device=device)
        self._sample: tuple[torch.Tensor, torch.Tensor] | None = None
        self._updated = False

    def reset(self) -> None:
        """Start a new validation pass."""
        self.counts.zero_()
        self._sample = None
        self._updated = False

    def _check_channels(self, channels: int) -> None:
        k = self.num_classes
        if channels != k and not (k == 2 and channels == 1):
            expected = f"1 (binary) or {k}" if k == 2 else str(k)
            raise ValueError(
                f"the model outputs {channels} channels for {k} classes; expected {expected}"
            )

    def update(self, logits: torch.Tensor, targets: torch.Tensor) -> None:
        """Add one batch of (N, C, H, W) logits and (N, H, W) masks (no host sync)."""
        self._check_channels(int(logits.shape[1]))
        preds = hard_predictions(logits)
        self.counts += class_counts(preds, targets, self.num_classes)
        self._updated = True
        if self._sample is None and preds.shape[0] > 0:
            self._sample = (preds[0].to(torch.uint8).clone(), targets[0].to(torch.uint8).clone())

    def per_class(self) -> tuple[list[float], list[float]]:
        """(Dice, IoU) of each class over the last pass (one sync)."""
        counts = self.counts.cpu()
        return dice_from_counts(counts).tolist(), iou_from_counts(counts).tolist()

    def compute(self) -> dict[str, float]:
        """`val_dice` and `val_iou`: means over the foreground classes (one sync)."""
        dice, iou = self.per_class()
        return {
            "val_dice": sum(dice[1:]) / len(dice[1:]),
            "val_iou": sum(iou[1:]) / len(iou[1:]),
        }

    def preview(self) -> MaskPreview | None:
        """The first validation sample's predicted and true masks (None before validation)."""
        if self._sample is None:
            return None
        pred, true = (m.cpu().long() for m in self._sample)
        counts = class_counts(pred[None], true[None], self.num_classes)
        sample_dice = dice_from_counts(counts)
        pred, true = _shrink(pred.to(torch.uint8)), _shrink(true.to(torch.uint8))
        return MaskPreview(pred, true, self.num_classes, float(sample_dice[1:].mean()))

    def details(self, class_names: list[str]) -> dict[str, Any]:
        """The last pass as plain values: per-class Dice, IoU and pixel counts, and the means."""
        if not self._updated:
            return {}
        counts = self.counts.cpu()
        dice, iou = dice_from_counts(counts).tolist(), iou_from_counts(counts).tolist()
        names = list(class_names) + [f"class_{i}" for i in range(len(class_names), len(dice))]
        per_class = {
            names[i]: {
                "dice": dice[i],
                "iou": iou[i],
                "true_pixels": int(counts[2, i]),
                "pred_pixels": int(counts[1, i]),
            }
            for i in range(len(dice))
        }
        return {
            "per_class": per_class,
            "mean_foreground": {
                "dice": sum(dice[1:]) / len(dice[1:]),
                "iou": sum(iou[1:]) / len(iou[1:]),
            },
            "mean_all": {"dice": sum(dice) / len(dice), "iou": sum(iou) / len(iou)},
        }

    def report(self, class_names: list[str]) -> str:
        """Per-class Dice/IoU table of the last pass, and the preview sample as text."""
        if not self._updated:
            return ""
        counts = self.counts.cpu()
        dice, iou = dice_from_counts(counts).tolist(), iou_from_counts(counts).tolist()
        names = list(class_names) + [f"class_{i}" for i in range(len(class_names), len(dice))]
        w = max(12, *(len(n) for n in names)) + 2
        lines = [f"{'class':<{w}}{'dice':>8}{'iou':>8}{'true px':>12}{'pred px':>12}"]
        for i, name in enumerate(names[: len(dice)]):
            true_px, pred_px = int(counts[2, i]), int(counts[1, i])
            lines.append(f"{name:<{w}}{dice[i]:>8.4f}{iou[i]:>8.4f}{true_px:>12,}{pred_px:>12,}")
        fg = len(dice) - 1
        lines.append(f"{'mean (fg)':<{w}}{sum(dice[1:]) / fg:>8.4f}{sum(iou[1:]) / fg:>8.4f}")
        lines.append(f"{'mean (all)':<{w}}{sum(dice) / len(dice):>8.4f}{sum(iou) / len(iou):>8.4f}")
        sample = self.preview()
        if sample is not None:
            lines.append("")
            lines.append(f"validation sample 0 (dice {sample.dice:.4f}):")
            lines += sample.render(2 * 32 + 3, names)
        return "\n".join(lines)


def _shrink(mask: torch.Tensor) -> torch.Tensor:
    """Nearest-neighbour downsample so neither side exceeds PREVIEW_MAX."""
    h, w = mask.shape
    scale = PREVIEW_MAX / max(h, w)
    if scale >= 1:
        return mask.clone()
    size = (max(1, round(h * scale)), max(1, round(w * scale)))
    out = F.interpolate(mask[None, None].float(), size=size, mode="nearest-exact")
    return out[0, 0].to(torch.uint8)
