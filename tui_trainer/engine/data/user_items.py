"""A user Dataset's items, made model-ready one at a time: images (tensors, PIL images, numpy
arrays) become float (C, H, W) tensors in [0, 1] at the run's size, labels int64 scalars,
masks int64 (H, W) tensors.

Anything else raises `ItemError` whose text says what was expected; the data builder turns it
into one line naming the class and the item (`describe_item_error`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F


class ItemError(ValueError):
    """An item that does not follow the task's contract (the text says what was expected)."""


IMAGE_EXPECTED = (
    "an image as a (C,H,W) uint8 or float tensor, a PIL image or an (H,W,C) / (H,W) numpy array"
)
SHAPES = {
    "classification": "(image, int label)",
    "segmentation": "(image, (H,W) integer mask)",
}


def to_image(obj: Any) -> torch.Tensor:
    """A float (C, H, W) tensor in [0, 1] (uint8 divided by 255; float as given)."""
    from PIL import Image

    if isinstance(obj, Image.Image):
        mode = "L" if obj.mode in ("1", "L", "I", "I;16", "F") else "RGB"
        array = np.asarray(obj.convert(mode))
        obj = array
    if isinstance(obj, np.ndarray):
        if obj.ndim == 2:
            obj = obj[:, :, None]
        if obj.ndim != 3 or obj.shape[2] not in (1, 3, 4):
            raise ItemError(f"{IMAGE_EXPECTED}; got a numpy array of shape {tuple(obj.shape)}")
        obj = torch.from_numpy(np.array(obj)).permute(2, 0, 1)  # a writable copy
    if not isinstance(obj, torch.Tensor):
        raise ItemError(f"{IMAGE_EXPECTED}; got {type(obj).__name__}")
    if obj.ndim == 2:
        obj = obj[None]
    if obj.ndim != 3 or obj.shape[0] not in (1, 3, 4) or min(obj.shape[1:]) < 1:
        raise ItemError(f"{IMAGE_EXPECTED}; got a tensor of shape {tuple(obj.shape)}")
    if obj.dtype == torch.uint8:
        return obj.float() / 255.0
    if obj.is_floating_point():
        return obj.float()
    raise ItemError(f"{IMAGE_EXPECTED}; got a {obj.dtype} tensor")


def to_label(obj: Any) -> int:
    """An integer class label (int, numpy integer, 0-d or 1-element integer tensor)."""
    if isinstance(obj, torch.Tensor) and obj.numel() == 1 and not obj.is_floating_point():
        obj = obj.item()
    if isinstance(obj, np.ndarray) and obj.size == 1 and np.issubdtype(obj.dtype, np.integer):
        obj = obj.item()
    if isinstance(obj, (int, np.integer)) and not isinstance(obj, bool):
        return int(obj)
    shown = f"a {obj.dtype} tensor" if isinstance(obj, torch.Tensor) else type(obj).__name__
    raise ItemError(f"an integer class label; got {shown}")


def to_mask(obj: Any, height: int, width: int) -> torch.Tensor:
    """An int64 (H, W) mask of class ids, the size of its image."""
    from PIL import Image

    if isinstance(obj, Image.Image):
        obj = np.asarray(obj)
    if isinstance(obj, np.ndarray):
        if not np.issubdtype(obj.dtype, np.integer) and obj.dtype != np.bool_:
            raise ItemError(f"an integer (H,W) mask; got a numpy {obj.dtype} array")
        obj = torch.from_numpy(np.ascontiguousarray(obj).astype(np.int64))
    if not isinstance(obj, torch.Tensor):
        raise ItemError(f"an integer (H,W) mask; got {type(obj).__name__}")
    if obj.is_floating_point():
        raise ItemError(f"an integer (H,W) mask; got a {obj.dtype} tensor")
    if obj.ndim == 3 and obj.shape[0] == 1:
        obj = obj[0]
    if tuple(obj.shape) != (height, width):
        raise ItemError(
            f"an integer mask of shape ({height}, {width}) like its image; "
            f"got shape {tuple(obj.shape)}"
        )
    return obj.to(torch.int64)


@dataclass(frozen=True)
class ItemShape:
    """What every item of a run becomes: `channels` x `size` x `size`, and the task's target."""

    task: str
    channels: int
    size: int
    num_classes: int

    def convert(self, item: Any) -> tuple[torch.Tensor, torch.Tensor]:
        """(image (C, size, size) float, target) for one item; raises ItemError."""
        if not isinstance(item, (tuple, list)) or len(item) != 2:
            got = f"a {len(item)}-tuple" if isinstance(item, (tuple, list)) else type(item).__name__
            raise ItemError(f"a pair {SHAPES[self.task]}; got {got}")
        image = to_image(item[0])
        if image.shape[0] != self.channels:
            raise ItemError(
                f"an image with {self.channels} channels like the first item's; "
                f"got {image.shape[0]}"
            )
        if self.task == "segmentation":
            image, resized = self.resize(
                image, to_mask(item[1], int(image.shape[1]), int(image.shape[2]))
            )
            mask = resized if resized is not None else torch.zeros(0, dtype=torch.int64)
            bad = mask[(mask < 0) | (mask >= self.num_classes)]
            if bad.numel():
                raise ItemError(
                    f"mask values from 0 to {self.num_classes - 1} (the classes); got {int(bad[0])}"
                )
            return image, mask
        label = to_label(item[1])
        if not 0 <= label < self.num_classes:
            raise ItemError(f"a label from 0 to {self.num_classes - 1} (the classes); got {label}")
        image, _ = self.resize(image, None)
        return image, torch.tensor(label, dtype=torch.int64)

    def resize(
        self, image: torch.Tensor, mask: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        side = self.size
        if tuple(image.shape[1:]) != (side, side):
            image = F.interpolate(
                image[None], size=(side, side), mode="bilinear", align_corners=False
            )[0]
            if mask is not None:
                mask = F.interpolate(mask[None, None].float(), size=(side, side), mode="nearest")
                mask = mask[0, 0].to(torch.int64)
        return image, mask


def first_image(item: Any, task: str) -> torch.Tensor:
    """The image of a dataset's first item (its channels and size set the run's)."""
    if not isinstance(item, (tuple, list)) or len(item) != 2:
        got = f"a {len(item)}-tuple" if isinstance(item, (tuple, list)) else type(item).__name__
        raise ItemError(f"a pair {SHAPES[task]}; got {got}")
    return to_image(item[0])
