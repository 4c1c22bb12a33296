"""One sample of an image folder (or an image + mask pair) as a small uint8 array.

`FolderSource` is the Dataset the DataLoader workers run: each item is decoded at the stored
size (see decode.py), looked up in or written to the disk cache when there is one, and comes
back as `(uint8 (C, S, S), index, error)`. A sample that cannot be used never raises inside a
worker (DataLoader would then lose the file name): it comes back as zeros with a one-line
`error` naming the file, and the loader decides (fail or skip, `data.on_bad_image`).

Segmentation samples have 4 channels: RGB and the mask's class indices, so that everything
downstream (cache, flips, crops) treats image and mask alike.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from tui_trainer.engine.data.cache import DiskCache, file_identity
from tui_trainer.engine.data.decode import (
    BadImage,
    Geometry,
    decode_mask,
    decode_rgb,
    resize_nearest,
    turns_sideways,
)


@dataclass(frozen=True)
class MaskRule:
    """How a mask file becomes class indices."""

    mask_values: list[int] | None
    threshold: int


def mask_to_classes(
    values: np.ndarray, mask_values: list[int] | None, threshold: int
) -> np.ndarray:
    """Raw mask pixel values → uint8 class indices (binary: value > threshold is class 1).

    Raises ValueError naming the values that `mask_values` does not list.
    """
    if mask_values is None:
        return (values.astype(np.int64) > threshold).astype(np.uint8)
    out = np.full(values.shape, 255, dtype=np.uint8)
    for index, value in enumerate(mask_values):
        out[values == value] = index
    if (out == 255).any():
        unknown = sorted(set(np.unique(values[out == 255]).tolist()))
        raise ValueError(f"mask values {unknown[:6]} are not in data.mask_values {mask_values}")
    return out


class FolderSource(Dataset):
    """Decoded samples of `images` (and their `masks`), at `geometry`, optionally disk-cached."""

    def __init__(
        self,
        images: list[Path],
        geometry: Geometry,
        *,
        masks: list[Path] | None = None,
        rule: MaskRule | None = None,
        disk: DiskCache | None = None,
    ) -> None:
        self.images = images
        self.masks = masks
        self.geometry = geometry
        self.rule = rule
        self.disk = disk
        self.channels = 3 if masks is None else 4

    @property
    def shape(self) -> tuple[int, int, int]:
        """(C, S, S) of one stored sample."""
        return (self.channels, self.geometry.size, self.geometry.size)

    def __len__(self) -> int:
        return len(self.images)

    def describe(self, index: int) -> str:
        """The file(s) behind sample `index`, for messages."""
        if self.masks is None:
            return str(self.images[index])
        return f"{self.images[index]} + {self.masks[index]}"

    def identity(self, index: int) -> str:
        """What the disk cache key of sample `index` is made of (files, geometry, mask rule)."""
        parts = [file_identity(self.images[index]), self.geometry.key()]
        if self.masks is not None:
            parts += [file_identity(self.masks[index]), repr(self.rule)]
        return "|".join(parts)

    def cached(self, index: int) -> np.ndarray | None:
        """Sample `index` from the disk cache, or None (no cache, not there, file gone)."""
        if self.disk is None:
            return None
        try:
            return self.disk.get(self.identity(index))
        except OSError:
            return None

    def load(self, index: int) -> np.ndarray:
        """(C, S, S) uint8 for sample `index`; raises BadImage naming the file."""
        identity = None
        if self.disk is not None:
            try:
                identity = self.identity(index)
            except OSError:
                raise BadImage(f"image '{self.describe(index)}' is missing") from None
            hit = self.disk.get(identity)
            if hit is not None:
                return hit
        rgb, size = decode_rgb(self.images[index], self.geometry)
        array = rgb.transpose(2, 0, 1)
        if self.masks is not None:
            array = np.concatenate([array, self._mask(index, size)[None]], 0)
        array = np.ascontiguousarray(array)
        if self.disk is not None and identity is not None:
            self.disk.put(identity, array)
        return array

    def _mask(self, index: int, image_size: tuple[int, int]) -> np.ndarray:
        assert self.masks is not None and self.rule is not None
        path = self.masks[index]
        values = decode_mask(path)
        if (values.shape[1], values.shape[0]) != image_size:
            turned = (values.shape[0], values.shape[1]) == image_size and turns_sideways(
                self.images[index]
            )
            hint = (
                " upright (its EXIF orientation turns it; the mask fits the stored pixels: "
                "save the mask upright too)"
                if turned
                else ""
            )
            raise BadImage(
                f"mask '{path}' is {values.shape[1]}x{values.shape[0]} but its image "
                f"'{self.images[index]}' is {image_size[0]}x{image_size[1]}{hint}"
            )
        try:
            classes = mask_to_classes(values, self.rule.mask_values, self.rule.threshold)
        except ValueError as exc:
            raise BadImage(f"mask '{path}': {exc}") from None
        return resize_nearest(classes, self.geometry)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int, str]:
        try:
            return torch.from_numpy(self.load(index).copy()), index, ""
        except BadImage as exc:
            return torch.zeros(self.shape, dtype=torch.uint8), index, str(exc)
