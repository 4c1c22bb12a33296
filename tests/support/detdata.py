"""Writers of a `DetectionIndex` whose images have `pixels` (generated shapes) into the three
detection layouts the readers take: YOLO, COCO JSON, Pascal VOC. For tests and benchmarks.

Boxes are written exactly (enough digits to read back the same float32 values); PNG keeps the
pixels too, VOC's JPEG changes only pixels. Each writer returns what `data.root` should be.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from xml.sax.saxutils import escape

from PIL import Image

from tui_trainer.engine.tasks.detection.index import Annotated, DetectionIndex

SPLITS = ("train", "val")


def _samples(index: DetectionIndex) -> dict[str, list[Annotated]]:
    return {"train": index.train, "val": index.val}


def _save(sample: Annotated, path: Path, **options: object) -> None:
    if sample.pixels is None:
        raise ValueError("the writers need samples with pixels (generated data)")
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(sample.pixels).save(path, **options)


def _num(value: float) -> str:
    return f"{float(value):.10g}"


def write_yolo(index: DetectionIndex, root: Path, *, names_as_mapping: bool = False) -> Path:
    """Ultralytics layout under `root`: data.yaml, images/{train,val}/*.png,
    labels/{train,val}/*.txt (no label file for a background image). Returns `root`."""
    for split, samples in _samples(index).items():
        for n, sample in enumerate(samples):
            _save(sample, root / "images" / split / f"{n:05d}.png")
            if len(sample.boxes) == 0:
                continue
            lines = []
            for (x1, y1, x2, y2), label in zip(sample.boxes, sample.labels, strict=True):
                w, h = sample.width, sample.height
                cx, cy = (x1 + x2) / 2 / w, (y1 + y2) / 2 / h
                bw, bh = (x2 - x1) / w, (y2 - y1) / h
                lines.append(f"{int(label)} {_num(cx)} {_num(cy)} {_num(bw)} {_num(bh)}")
            label_file = root / "labels" / split / f"{n:05d}.txt"
            label_file.parent.mkdir(parents=True, exist_ok=True)
            label_file.write_text("\n".join(lines) + "\n")
    if names_as_mapping:
        names = "names:\n" + "".join(f"  {i}: {n}\n" for i, n in enumerate(index.class_names))
    else:
        names = f"names: [{', '.join(index.class_names)}]\n"
    (root / "data.yaml").write_text(f"path: .\ntrain: images/train\nval: images/val\n{names}")
    return root


def write_coco(
    index: DetectionIndex, root: Path, *, category_ids: Sequence[int] | None = None
) -> Path:
    """COCO layout under `root`: annotations/instances_{train,val}2017.json and the images in
    {train,val}2017/. Category ids are `category_ids` (default 1..n, as COCO's start at 1);
    image ids are 1-based. Returns `root`."""
    ids = (
        list(category_ids)
        if category_ids is not None
        else list(range(1, 1 + len(index.class_names)))
    )
    (root / "annotations").mkdir(parents=True, exist_ok=True)
    ann_id = 1
    for split, samples in _samples(index).items():
        images, annotations = [], []
        for n, sample in enumerate(samples):
            name = f"{n:05d}.png"
            _save(sample, root / f"{split}2017" / name)
            images.append(
                {"id": n + 1, "file_name": name, "width": sample.width, "height": sample.height}
            )
            for (x1, y1, x2, y2), label in zip(sample.boxes, sample.labels, strict=True):
                w, h = float(x2 - x1), float(y2 - y1)
                annotations.append(
                    {
                        "id": ann_id,
                        "image_id": n + 1,
                        "category_id": ids[int(label)],
                        "bbox": [float(x1), float(y1), w, h],
                        "area": w * h,
                        "iscrowd": 0,
                    }
                )
                ann_id += 1
        categories = [
            {"id": c, "name": name} for c, name in zip(ids, index.class_names, strict=True)
        ]
        data = {"images": images, "annotations": annotations, "categories": categories}
        (root / "annotations" / f"instances_{split}2017.json").write_text(json.dumps(data))
    return root


def write_voc(index: DetectionIndex, root: Path) -> Path:
    """Pascal VOC layout: root/VOCdevkit/VOC2007/{Annotations,JPEGImages,ImageSets/Main}.
    Boxes are written as VOC does (xmin = x1 + 1: 1-based). Returns root/VOCdevkit."""
    year = root / "VOCdevkit" / "VOC2007"
    (year / "Annotations").mkdir(parents=True, exist_ok=True)
    (year / "ImageSets" / "Main").mkdir(parents=True, exist_ok=True)
    counter = 0
    for split, samples in _samples(index).items():
        ids = []
        for sample in samples:
            counter += 1
            image_id = f"{counter:06d}"
            ids.append(image_id)
            _save(sample, year / "JPEGImages" / f"{image_id}.jpg", quality=95)
            objects = "".join(
                f"<object><name>{escape(index.class_names[int(label)])}</name><pose>Unspecified"
                f"</pose><truncated>0</truncated><difficult>0</difficult><bndbox>"
                f"<xmin>{_num(x1 + 1)}</xmin><ymin>{_num(y1 + 1)}</ymin>"
                f"<xmax>{_num(x2)}</xmax><ymax>{_num(y2)}</ymax></bndbox></object>\n"
                for (x1, y1, x2, y2), label in zip(sample.boxes, sample.labels, strict=True)
            )
            xml = (
                f"<annotation><folder>VOC2007</folder><filename>{image_id}.jpg</filename>\n"
                f"<size><width>{sample.width}</width><height>{sample.height}</height>"
                f"<depth>3</depth></size>\n{objects}</annotation>\n"
            )
            (year / "Annotations" / f"{image_id}.xml").write_text(xml)
        (year / "ImageSets" / "Main" / f"{split}.txt").write_text("\n".join(ids) + "\n")
    return root / "VOCdevkit"
