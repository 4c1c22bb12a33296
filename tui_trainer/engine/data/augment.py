"""RandomResizedCrop on a batch, with a fixed number of random draws per sample.

torchvision's `RandomResizedCrop` tries up to 10 random (area, aspect) pairs and falls back to
a centre crop; here all 10 candidates are drawn at once for every sample (so a batch always
consumes the same amount of randomness, which keeps a resumed epoch identical), the first
that fits is used, and each crop is resized with antialiasing.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

TRIES = 10
SCALE = (0.08, 1.0)
RATIO = (3 / 4, 4 / 3)


def crop_boxes(
    n: int, height: int, width: int, gen: torch.Generator, scale=SCALE, ratio=RATIO
) -> torch.Tensor:
    """(n, 4) int64 boxes (top, left, h, w), drawn like torchvision's RandomResizedCrop."""
    area = height * width
    u = torch.rand(n, TRIES, 4, generator=gen, dtype=torch.float64)
    target = area * (scale[0] + (scale[1] - scale[0]) * u[..., 0])
    log_lo, log_hi = math.log(ratio[0]), math.log(ratio[1])
    aspect = torch.exp(log_lo + (log_hi - log_lo) * u[..., 1])
    w = torch.sqrt(target * aspect).round().long()
    h = torch.sqrt(target / aspect).round().long()
    ok = (w > 0) & (h > 0) & (w <= width) & (h <= height)
    first = torch.where(ok.any(1), ok.long().argmax(1), torch.full((n,), -1))
    rows = torch.arange(n)
    pick = first.clamp_min(0)
    bh, bw = h[rows, pick], w[rows, pick]
    top = (u[rows, pick, 2] * (height - bh + 1)).floor().long()
    left = (u[rows, pick, 3] * (width - bw + 1)).floor().long()
    # Fallback: the whole image cropped to the nearest allowed aspect ratio, centred.
    in_ratio = width / height
    if in_ratio < ratio[0]:
        fw, fh = width, round(width / ratio[0])
    elif in_ratio > ratio[1]:
        fh, fw = height, round(height * ratio[1])
    else:
        fw, fh = width, height
    missed = first < 0
    bh = torch.where(missed, fh, bh)
    bw = torch.where(missed, fw, bw)
    top = torch.where(missed, (height - fh) // 2, top)
    left = torch.where(missed, (width - fw) // 2, left)
    return torch.stack([top, left, bh, bw], 1)


def random_resized_crop(x: torch.Tensor, gen: torch.Generator, size: int) -> torch.Tensor:
    """Float (N, C, size, size) crops of a (N, C, H, W) batch, values in the input's range."""
    boxes = crop_boxes(x.shape[0], x.shape[-2], x.shape[-1], gen).tolist()
    out = torch.empty((x.shape[0], x.shape[1], size, size), device=x.device)
    for k, (top, left, h, w) in enumerate(boxes):
        patch = x[k : k + 1, :, top : top + h, left : left + w].float()
        out[k] = F.interpolate(
            patch, size=(size, size), mode="bilinear", align_corners=False, antialias=True
        )[0]
    return out
