"""Model input back to pictures: de-normalised, clamped, grey or RGB, and resized."""

from __future__ import annotations

import functools

import torch
import torch.nn.functional as F


def displayable(x: torch.Tensor, mean: tuple[float, ...], std: tuple[float, ...]) -> torch.Tensor:
    """(B, 1|3, H, W) float in [0, 1] from a (B, C, H, W) model input: `x · std + mean` per
    channel (the data's normalisation undone; mean/std of another length are not applied),
    clamped; 1 or 2 channels give grey, 3 or more their first three as RGB."""
    x = x.float()
    channels = int(x.shape[1])
    if len(mean) in (1, channels) and len(std) == len(mean):
        m, s = _constants(mean, std, x.device)
        x = torch.addcmul(m, x, s)
    x = x[:, :3] if channels >= 3 else x[:, :1]
    return x.clamp(0.0, 1.0)


@functools.lru_cache(maxsize=8)
def _constants(
    mean: tuple[float, ...], std: tuple[float, ...], device: torch.device
) -> tuple[torch.Tensor, torch.Tensor]:
    """mean and std as (1, C, 1, 1) tensors on `device`, made once (no copy per batch)."""
    m = torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1).to(device)
    s = torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1).to(device)
    return m, s


def fitted(height: int, width: int, size: int) -> tuple[int, int]:
    """(height, width) scaled so the longest side is `size` (aspect kept, at least 1 pixel)."""
    scale = size / max(height, width)
    return max(1, round(height * scale)), max(1, round(width * scale))


def shrink(images: torch.Tensor, size: int) -> torch.Tensor:
    """(B, C, H, W) float images with the longest side at most `size` (antialiased); smaller
    images are returned as they are."""
    h, w = int(images.shape[-2]), int(images.shape[-1])
    if max(h, w) <= size:
        return images
    return F.interpolate(
        images, size=fitted(h, w, size), mode="bilinear", antialias=True, align_corners=False
    ).clamp(0.0, 1.0)


def nearest(maps: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """(..., H, W) maps of any dtype (class ids) resampled to (height, width), nearest pixel."""
    h, w = int(maps.shape[-2]), int(maps.shape[-1])
    if (h, w) == (height, width):
        return maps
    rows = (torch.arange(height, device=maps.device) * h) // height
    cols = (torch.arange(width, device=maps.device) * w) // width
    return maps.index_select(-2, rows).index_select(-1, cols)


def enlarge(image: torch.Tensor, size: int) -> torch.Tensor:
    """A (C, H, W) image nearest-upscaled so its longest side is `size` (larger ones kept)."""
    h, w = int(image.shape[-2]), int(image.shape[-1])
    if max(h, w) >= size:
        return image
    return nearest(image, *fitted(h, w, size))
