"""Per-image scores: a segmentation's Dice and a detection's F1 at IoU 0.5."""

from __future__ import annotations

import torch


def image_dice(pred: torch.Tensor, true: torch.Tensor, num_classes: int) -> torch.Tensor:
    """(B,) Dice of each image: the mean over the foreground classes (1 .. K-1) present in the
    truth or the prediction; 1.0 where neither has any. `pred`/`true` are (B, H, W) class ids.
    On the device, no host sync."""
    b = int(pred.shape[0])
    total = torch.zeros(b, device=pred.device)
    present = torch.zeros(b, device=pred.device)
    for k in range(1, max(num_classes, 2)):
        p, t = (pred == k).flatten(1), (true == k).flatten(1)
        inter = (p & t).sum(1).float()
        both = (p.sum(1) + t.sum(1)).float()
        has = both > 0
        total += torch.where(has, 2 * inter / both.clamp_min(1), torch.zeros_like(both))
        present += has.float()
    return torch.where(present > 0, total / present.clamp_min(1), torch.ones_like(total))


def image_f1(
    true_boxes: torch.Tensor,
    true_labels: torch.Tensor,
    boxes: torch.Tensor,
    scores: torch.Tensor,
    labels: torch.Tensor,
    iou: float = 0.5,
) -> float:
    """One image's F1 at IoU `iou`: predictions matched greedily, highest score first, each to
    the unmatched true box of the same class it overlaps most (IoU ≥ `iou`); 1.0 when there is
    neither a true nor a predicted box. Boxes are xyxy."""
    n_true, n_pred = int(true_boxes.shape[0]), int(boxes.shape[0])
    if n_true == 0 and n_pred == 0:
        return 1.0
    if n_true == 0 or n_pred == 0:
        return 0.0
    from torchvision.ops import box_iou  # detection only: classification never loads it

    overlap = box_iou(boxes.float(), true_boxes.float())
    overlap[labels.view(-1, 1) != true_labels.view(1, -1)] = -1.0
    taken = torch.zeros(n_true, dtype=torch.bool)
    hits = 0
    for i in torch.argsort(scores, descending=True, stable=True).tolist():
        row = overlap[i].masked_fill(taken, -1.0)
        j = int(row.argmax())
        if float(row[j]) >= iou:
            taken[j] = True
            hits += 1
    return 2 * hits / (n_true + n_pred)
