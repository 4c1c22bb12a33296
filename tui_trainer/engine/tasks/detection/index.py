"""What every detection data source produces: images with their boxes, split into train and val.

The readers (`formats/`: YOLO, COCO, VOC) and the generated shapes (`shapes.py`) all return a
`DetectionIndex`; the loader decodes its images with `load_rgb`. Conventions (the spec every
detection module keeps):

- boxes are float32 `xyxy` in pixels of the ORIGINAL image, upright (after its EXIF orientation,
  as annotation tools show it), edges as in COCO: a box covering the whole W x H image is
  (0, 0, W, H);
- labels are 0-based int64 indices into `class_names` (no background class);
- an image with no boxes (k = 0) is a background image, kept.

numpy and PIL only: nothing here imports torch.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from tui_trainer.engine.data.decode import load_upright


@dataclass(frozen=True)
class Annotated:
    """One image and its boxes."""

    boxes: np.ndarray  # float32 (k, 4) xyxy, original pixels, k may be 0 (background image)
    labels: np.ndarray  # int64 (k,), 0-based class ids
    width: int
    height: int
    path: Path | None = None  # the image file (None: generated, see `pixels`)
    pixels: np.ndarray | None = None  # uint8 (H, W, 3) for generated data
    image_id: int = 0  # unique within its split (COCO image id where the data has one)


@dataclass
class DetectionIndex:
    """A detection data set: both splits, its class names, and what reading it noticed."""

    train: list[Annotated]
    val: list[Annotated]
    class_names: list[str]
    notes: list[str] = field(default_factory=list)  # warnings, e.g. clipped boxes (counted)
    source: str = ""  # one line: "yolo datasets/x/data.yaml (train 120, val 30)"


def load_rgb(a: Annotated) -> np.ndarray:
    """The image's uint8 (H, W, 3) pixels, upright, at its own size.

    Generated samples return their `pixels`; files are decoded by PIL with the EXIF orientation
    applied, and L / LA / P / RGBA / CMYK / 16-bit / float modes made 8-bit RGB (16-bit and float
    scaled by their range, as image folders do). A file that cannot be decoded raises
    `tui_trainer.engine.data.decode.BadImage`, whose one-line message names it.
    """
    if a.pixels is not None:
        return a.pixels
    if a.path is None:
        raise ValueError("an Annotated needs a path or pixels")
    return np.asarray(load_upright(a.path).convert("RGB"))


def box_array(boxes: list[list[float]] | list[tuple[float, float, float, float]]) -> np.ndarray:
    """float32 (k, 4) from a list of xyxy boxes (also for k = 0)."""
    return np.asarray(boxes, dtype=np.float32).reshape(-1, 4)


def label_array(labels: list[int]) -> np.ndarray:
    """int64 (k,) from a list of class ids."""
    return np.asarray(labels, dtype=np.int64).reshape(-1)
