"""A user's own Dataset serving a detection run: items (image, {"boxes", "labels"}) read lazily
as the `Annotated` samples the built-in detection loaders letterbox and augment.

Boxes are xyxy in the image's own pixels, labels 0-based class ids (torchvision's detection
contract). `DetectionItems` presents a subset of the dataset as the sequence of samples a
`DetectionLoader` reads, so user data gets the same batches as YOLO, COCO or VOC folders:
letterboxed to `data.image_size` (default 640) with the same target dicts, augmentation,
worker processes, DDP shards and exact resume. The dataset's own random draws are seeded per
item (the same every epoch): augment detection data with `data.augment`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from tui_trainer.engine.data.planned import slot_seed
from tui_trainer.engine.data.user_items import ItemError, to_image
from tui_trainer.engine.data.user_loader import seeded
from tui_trainer.engine.tasks.detection.index import Annotated
from tui_trainer.errors import TrainingError

TARGET = 'a target dict with "boxes" (k,4) xyxy pixels and "labels" (k,) 0-based class ids'


class UserDetectionError(TrainingError):
    """An item past the checked ones broke the detection contract (the message names it)."""


def _array(value: Any, what: str) -> np.ndarray:
    if isinstance(value, torch.Tensor):
        return value.detach().cpu().numpy()
    try:
        return np.asarray(value)
    except Exception:  # a ragged list, an object
        raise ItemError(f"{TARGET}; its {what} is not an array") from None


def to_target(obj: Any, height: int, width: int, num_classes: int) -> tuple[np.ndarray, ...]:
    """(boxes float32 (k, 4), labels int64 (k,)) of one item's target; raises ItemError."""
    if not isinstance(obj, dict) or "boxes" not in obj or "labels" not in obj:
        raise ItemError(f"{TARGET}; got {type(obj).__name__}")
    boxes, labels = _array(obj["boxes"], "boxes"), _array(obj["labels"], "labels")
    if boxes.size == 0:
        boxes = boxes.reshape(0, 4)
    if boxes.ndim != 2 or boxes.shape[1] != 4 or not np.issubdtype(boxes.dtype, np.number):
        raise ItemError(f"{TARGET}; got boxes of shape {tuple(boxes.shape)}")
    if labels.reshape(-1).shape[0] != boxes.shape[0] or not np.issubdtype(labels.dtype, np.integer):
        raise ItemError(f"{TARGET}; got {labels.size} {labels.dtype} labels for {len(boxes)} boxes")
    boxes, labels = boxes.astype(np.float32), labels.reshape(-1).astype(np.int64)
    if len(boxes) and not ((boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])).all():
        raise ItemError(f"{TARGET} (x2 > x1, y2 > y1); got {boxes[0].tolist()}")
    if len(labels) and not ((labels >= 0) & (labels < num_classes)).all():
        raise ItemError(f"labels from 0 to {num_classes - 1} (the classes); got {labels.tolist()}")
    return boxes, labels


def to_annotated(item: Any, index: int, num_classes: int) -> Annotated:
    """One (image, target) item as an in-memory `Annotated` sample; raises ItemError."""
    if not isinstance(item, (tuple, list)) or len(item) != 2:
        got = f"a {len(item)}-tuple" if isinstance(item, (tuple, list)) else type(item).__name__
        raise ItemError(f"a pair (image, {TARGET}); got {got}")
    image = to_image(item[0])
    if image.shape[0] == 1:
        image = image.expand(3, -1, -1)
    elif image.shape[0] != 3:
        raise ItemError(f"an RGB or grayscale image; got {image.shape[0]} channels")
    pixels = (image.clamp(0, 1) * 255).round().to(torch.uint8).permute(1, 2, 0).numpy()
    height, width = int(pixels.shape[0]), int(pixels.shape[1])
    boxes, labels = to_target(item[1], height, width, num_classes)
    return Annotated(
        boxes, labels, width, height, pixels=np.ascontiguousarray(pixels), image_id=index
    )


class DetectionItems(Sequence[Annotated]):
    """`indices` of a user Dataset as detection samples, read on access (the last one kept:
    the detection loader asks for a sample's pixels and its boxes separately)."""

    def __init__(
        self, dataset: Any, indices: list[int], num_classes: int, label: str, seed: int
    ) -> None:
        self.dataset, self.indices = dataset, indices
        self.num_classes, self.label, self.seed = num_classes, label, seed
        self._last: tuple[int, Annotated] | None = None

    def __len__(self) -> int:
        return len(self.indices)

    def read(self, position: int) -> Annotated:
        """The sample at `position`; raises ItemError (the caller words it)."""
        index = self.indices[position]
        with seeded(slot_seed(self.seed, 0, index)):  # the same draws in any process, any epoch
            item = self.dataset[index]
        return to_annotated(item, index, self.num_classes)

    def __getitem__(self, position: Any) -> Any:
        if isinstance(position, slice):
            return [self[i] for i in range(*position.indices(len(self)))]
        if self._last is not None and self._last[0] == position:
            return self._last[1]
        try:
            sample = self.read(position)
        except ItemError as exc:
            raise UserDetectionError(
                f"{self.label} item {self.indices[position]}: expected {exc}"
            ) from None
        self._last = (position, sample)
        return sample
