"""Decoding image files straight to the small uint8 arrays training uses.

- JPEG is decoded at reduced size when the target is much smaller (`Image.draft`: libjpeg's
  DCT scaling gives 1/2, 1/4 or 1/8 of the size directly, skipping most of the decode work);
  other formats are decoded whole. PIL (libjpeg-turbo) is the fastest decoder installed for
  every format here; torchvision.io.decode_jpeg cannot decode at reduced size.
- Resizing is antialiased (PIL's BILINEAR filter widens its support when shrinking, like
  torchvision's `antialias=True`); masks use NEAREST so no in-between class appears.
- Geometry: `resize` squashes to size x size (the whole image, aspect not kept); `center`
  resizes the shorter side to `resize_to` and crops the centre `size` x `size` (the usual
  validation transform for fine-tuning).

A file that cannot be read raises `BadImage`, whose message names the file and says why.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

Image.MAX_IMAGE_PIXELS = 400_000_000  # large scans are fine; beyond that is a decompression bomb


class BadImage(Exception):
    """A sample that cannot be used; the message is one line naming the file."""


@dataclass(frozen=True)
class Geometry:
    """How a decoded image becomes the stored array: `mode` resize | center, output `size`."""

    size: int
    mode: str = "resize"  # resize: squash to size x size; center: shorter side, centre crop
    resize_to: int = 0  # center: the shorter side's length before the crop (>= size)

    def key(self) -> str:
        """A short text that changes whenever the stored array would (cache keys)."""
        return f"{self.mode}{self.size}-{self.resize_to}"

    def plan(self, width: int, height: int) -> tuple[tuple[int, int], tuple[int, int, int, int]]:
        """((resized width, height), crop box in the resized image) for a width x height image."""
        if self.mode == "resize":
            return (self.size, self.size), (0, 0, self.size, self.size)
        short = self.resize_to or self.size
        scale = short / min(width, height)
        w, h = max(self.size, round(width * scale)), max(self.size, round(height * scale))
        left, top = (w - self.size) // 2, (h - self.size) // 2
        return (w, h), (left, top, left + self.size, top + self.size)


def _open(path: Path) -> Image.Image:
    try:
        return Image.open(path)
    except FileNotFoundError:
        raise BadImage(
            f"image '{path}' is missing (deleted or moved since the folder was listed)"
        ) from None
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        raise BadImage(f"cannot read image '{path}': {_reason(exc)}") from None


def _reason(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:200]


def decode_rgb(path: Path, geometry: Geometry) -> tuple[np.ndarray, tuple[int, int]]:
    """(H, W, 3) uint8 pixels at the geometry's size, and the file's own (width, height)."""
    img = _open(path)
    try:
        with img, warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            original = img.size  # before `draft` shrinks it
            return fit_rgb(img, geometry), original
    except BadImage:
        raise
    except Exception as exc:  # truncated or garbled data surfaces at decode time
        raise BadImage(f"cannot decode image '{path}': {_reason(exc)}") from None


def fit_rgb(img: Image.Image, geometry: Geometry) -> np.ndarray:
    """(H, W, 3) uint8 pixels of an opened image at the geometry's size.

    A JPEG that is not loaded yet is decoded at reduced size (`draft`); training, validation and
    `predict` all go through here, so a file becomes the same pixels everywhere.
    """
    (w, h), box = geometry.plan(*img.size)
    if img.format == "JPEG":
        img.draft("RGB", (w, h))  # at least (w, h): the largest 1/2^k scale that fits
    rgb = img.convert("RGB")
    if rgb.size != (w, h):
        rgb = rgb.resize((w, h), Image.Resampling.BILINEAR, reducing_gap=3.0)
    if box != (0, 0, w, h):
        rgb = rgb.crop(box)
    return np.asarray(rgb)


def decode_mask(path: Path) -> np.ndarray:
    """A mask file's raw (H, W) values: palette indices for 'P' images (GIF), gray levels else."""
    img = _open(path)
    try:
        with img:
            if img.mode in ("RGB", "RGBA", "LA"):
                img = img.convert("L")
            return np.array(img)
    except Exception as exc:
        raise BadImage(f"cannot decode mask '{path}': {_reason(exc)}") from None


def resize_nearest(values: np.ndarray, geometry: Geometry) -> np.ndarray:
    """Class-index (H, W) uint8 array through the same geometry as its image, by NEAREST."""
    h, w = values.shape
    (rw, rh), box = geometry.plan(w, h)
    img = Image.fromarray(values)
    if (rw, rh) != (w, h):
        img = img.resize((rw, rh), Image.Resampling.NEAREST)
    if box != (0, 0, rw, rh):
        img = img.crop(box)
    return np.asarray(img)
