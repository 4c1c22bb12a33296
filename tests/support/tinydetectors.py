"""A user's detector named as `model.name=support.tinydetectors:TinyDetector`."""

from __future__ import annotations

from torchvision.models.detection.anchor_utils import AnchorGenerator
from torchvision.models.detection.fcos import FCOS, FCOSHead

from tui_trainer.engine.tasks.detection.tiny import TinyBackbone


class TinyDetector(FCOS):
    """A small FCOS that takes `num_classes` and `image_size`, as a user's class may."""

    def __init__(self, num_classes: int, image_size: int = 64) -> None:
        anchors = AnchorGenerator(((8,), (16,)), ((1.0,), (1.0,)))
        head = FCOSHead(32, 1, num_classes, num_convs=1)
        super().__init__(
            TinyBackbone(width=8, fpn_channels=32),
            num_classes,
            min_size=image_size,
            max_size=image_size,
            anchor_generator=anchors,
            head=head,
        )
        self.num_classes = num_classes
        self.image_size = image_size
