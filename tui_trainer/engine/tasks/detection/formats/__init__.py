"""Readers of the detection data layouts people already have: YOLO, COCO JSON, Pascal VOC."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tui_trainer.engine.tasks.detection.index import DetectionIndex

LAYOUTS = ("yolo", "coco", "voc")
"""The `data.name` of each file layout."""


def read_layout(fmt: str, root: Path, class_names: list[str] | None) -> DetectionIndex:
    """The index of layout `fmt` (yolo, coco, voc) under `root`; bad labels raise UserError
    naming the file and line. Each reader is imported on first use."""
    if fmt == "yolo":
        from tui_trainer.engine.tasks.detection.formats.yolo import read_yolo as read
    elif fmt == "coco":
        from tui_trainer.engine.tasks.detection.formats.coco import read_coco as read
    else:
        from tui_trainer.engine.tasks.detection.formats.voc import read_voc as read
    return read(root, class_names=class_names)
