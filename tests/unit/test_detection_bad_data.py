"""Bad detection data is refused by the readers with one line naming the file and the line (or
JSON key / XML object) and what is wrong, key `data.root`, before anything is built."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

import pytest
from support.detdata import write_coco, write_voc, write_yolo

from tui_trainer.engine.tasks.detection.formats.coco import read_coco
from tui_trainer.engine.tasks.detection.formats.voc import read_voc
from tui_trainer.engine.tasks.detection.formats.yolo import read_yolo
from tui_trainer.engine.tasks.detection.index import DetectionIndex
from tui_trainer.engine.tasks.detection.shapes import generate_shapes
from tui_trainer.errors import UserError


@pytest.fixture(scope="module")
def shapes() -> DetectionIndex:
    return generate_shapes(4, 32, seed=1, num_classes=2, max_shapes=2, val_fraction=0.5)


def refusal(read: Callable[..., DetectionIndex], root: Path) -> str:
    with pytest.raises(UserError) as info:
        read(root, class_names=None)
    err = info.value
    assert err.key == "data.root"
    assert "\n" not in str(err)
    return str(err)


def _label(root: Path, text: str) -> Path:
    path = root / "labels" / "train" / "00000.txt"
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("lines", "expected"),
    [
        (
            "0 0.5 0.5 0.2 0.2\n7 0.5 0.5 0.2 0.2\n",
            ":2: data.root: class id 7 outside names (0..1)",
        ),
        ("-1 0.5 0.5 0.2 0.2\n", ":1: data.root: class id -1 outside names (0..1)"),
        ("0.5 0.5 0.5 0.2 0.2\n", ":1: data.root: class id 0.5 outside names (0..1)"),
        ("\n0 0.5 0.5 0 0.2\n", ":2: data.root: box width 0 and height 0.2 must be positive"),
        (
            "0 1.2 0.5 0.2 0.2\n",
            ":1: data.root: box (35.2, 12.8, 41.6, 19.2) in a 32x32 image: outside the image by "
            "more than 1% of its side (wrong image size, or not this image's label?)",
        ),
        (
            "0 0.5 0.5 0.2\n",
            ":1: data.root: expected 5 fields 'class cx cy w h', got 4: '0 0.5 0.5 0.2'",
        ),
        (
            "0 a 0.5 0.2 0.2\n",
            ":1: data.root: expected 5 numbers 'class cx cy w h', got '0 a 0.5 0.2 0.2'",
        ),
        (
            "0 nan 0.5 0.2 0.2\n",
            ":1: data.root: expected 5 numbers 'class cx cy w h', got '0 nan 0.5 0.2 0.2'",
        ),
    ],
)
def test_yolo_bad_label_lines(
    tmp_path: Path, shapes: DetectionIndex, lines: str, expected: str
) -> None:
    root = write_yolo(shapes, tmp_path)
    label = _label(root, lines)
    assert refusal(read_yolo, root) == f"{label}{expected}"


@pytest.mark.parametrize(
    ("yaml_text", "expected"),
    [
        (
            "train: images/train\nval: images/val\n",
            "names: missing (a list of class names, or {id: name})",
        ),
        (
            "train: images/train\nval: images/val\nnames: {0: a, 2: b}\n",
            "names: ids must be 0..1 (each once), got [0, 2]",
        ),
        (
            "train: images/train\nval: images/val\nnames: []\n",
            "names: expected a non-empty list of class names, or {id: name}",
        ),
        (
            "train: images/train\nnames: [a, b]\n",
            "val: missing (an image folder or a .txt list of images)",
        ),
        ("names: [a, b\n", None),
    ],
)
def test_yolo_bad_yaml(
    tmp_path: Path, shapes: DetectionIndex, yaml_text: str, expected: str | None
) -> None:
    root = write_yolo(shapes, tmp_path)
    (root / "data.yaml").write_text(yaml_text)
    message = refusal(read_yolo, root)
    if expected is None:  # a YAML syntax error names its line
        assert message.startswith(f"{root / 'data.yaml'}:2: data.root: invalid YAML: ")
    else:
        assert message == f"{root / 'data.yaml'}: data.root: {expected}"


def test_yolo_missing_and_empty_splits(tmp_path: Path, shapes: DetectionIndex) -> None:
    root = write_yolo(shapes, tmp_path)
    yaml_file = root / "data.yaml"
    yaml_file.write_text("train: images/train\nval: images/gone\nnames: [a, b]\n")
    assert refusal(read_yolo, root) == (
        f"{yaml_file}: data.root: val: '{root / 'images' / 'gone'}' not found "
        "(an image folder or .txt list)"
    )
    (root / "images" / "empty").mkdir()
    (root / "images" / "empty" / "notes.md").write_text("not an image")
    yaml_file.write_text("train: images/train\nval: images/empty\nnames: [a, b]\n")
    assert refusal(read_yolo, root) == (
        f"{yaml_file}: data.root: val: no images in images/empty (empty split)"
    )
    (root / "val.txt").write_text("images/val/00000.png\nimages/val/missing.png\n")
    yaml_file.write_text("train: images/train\nval: val.txt\nnames: [a, b]\n")
    assert refusal(read_yolo, root) == (
        f"{root / 'val.txt'}:2: data.root: image '{root / 'images' / 'val' / 'missing.png'}' "
        "not found"
    )
    assert refusal(read_yolo, tmp_path / "nowhere") == (
        f"{tmp_path / 'nowhere'}: data.root: not found (expected a folder holding data.yaml, "
        "or the YAML file)"
    )


def _edit_coco(root: Path, change: Callable[[dict], None], split: str = "train") -> Path:
    path = root / "annotations" / f"instances_{split}2017.json"
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))
    return path


def _annotation(**fields: object) -> Callable[[dict], None]:
    def change(data: dict) -> None:
        ann = {"id": 99, "image_id": 1, "category_id": 1, "bbox": [1, 1, 5, 5], "iscrowd": 0}
        data["annotations"].append({**ann, **fields})

    return change


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            _annotation(image_id=42),
            "annotations[{n}].image_id: unknown image id 42 (not in images)",
        ),
        (_annotation(category_id=5), "annotations[{n}].category_id: unknown category id 5"),
        (
            _annotation(bbox=[1, 1, 0, 5]),
            "annotations[{n}].bbox: width 0 and height 5 must be positive",
        ),
        (
            _annotation(bbox=[1, 1, 5]),
            "annotations[{n}].bbox: expected [x, y, width, height] numbers, got [1, 1, 5]",
        ),
        (
            _annotation(bbox=[20, 1, 20, 5]),
            "annotations[{n}].bbox: box (20, 1, 40, 6) in a 32x32 image: outside the "
            "image by more than 1% of its side (wrong image size, or not this image's label?)",
        ),
        (lambda d: d.update(images=[], annotations=[]), "images: empty (no images in this split)"),
        (
            lambda d: d["images"].append(
                {"id": 9, "file_name": "gone.png", "width": 32, "height": 32}
            ),
            None,
        ),
    ],
)
def test_coco_bad_annotations(
    tmp_path: Path, shapes: DetectionIndex, change: Callable[[dict], None], expected: str | None
) -> None:
    root = write_coco(shapes, tmp_path)
    n = len(
        json.loads((root / "annotations" / "instances_train2017.json").read_text())["annotations"]
    )
    path = _edit_coco(root, change)
    message = refusal(read_coco, root)
    if expected is None:
        image = root / "train2017" / "gone.png"
        assert message == f"{path}: data.root: images[2]: image '{image}' not found"
    else:
        assert message == f"{path}: data.root: {expected.format(n=n)}"


def test_coco_missing_files(tmp_path: Path, shapes: DetectionIndex) -> None:
    root = write_coco(shapes, tmp_path)
    (root / "val2017").rename(root / "elsewhere")
    assert refusal(read_coco, root) == (
        f"{root / 'annotations' / 'instances_val2017.json'}: data.root: image folder not found: "
        f"looked for {root / 'val2017'} and {root / 'images' / 'val2017'}"
    )
    (root / "annotations" / "instances_train2017.json").write_text('{"images": [\n  1,\n  }')
    assert refusal(read_coco, root).startswith(
        f"{root / 'annotations' / 'instances_train2017.json'}:3: data.root: invalid JSON: "
    )
    (root / "annotations" / "instances_val2017.json").unlink()
    assert refusal(read_coco, root) == (
        f"{root / 'annotations'}: data.root: expected one instances_val*.json, found none"
    )


def test_voc_bad_files(tmp_path: Path, shapes: DetectionIndex) -> None:
    devkit = write_voc(shapes, tmp_path)
    year = devkit / "VOC2007"
    xml = year / "Annotations" / "000001.xml"
    good = xml.read_text()
    xml.write_text(good.replace("<xmax>", "<xmax>x", 1))
    assert refusal(read_voc, devkit) == (
        f"{xml}: data.root: object 1 ({shapes.class_names[shapes.train[0].labels[0]]}): "
        "<xmax> missing or not a number"
    )
    xml.write_text(re.sub(r"<ymax>[^<]*</ymax>", "<ymax>40</ymax>", good, count=1))
    assert refusal(read_voc, devkit).endswith(
        ", 40) in a 32x32 image: outside the image by more than 1% of its side "
        "(wrong image size, or not this image's label?)"
    )
    xml.write_text(good.replace("</size>", "", 1))
    assert (
        refusal(read_voc, devkit) == f"{xml}:5: data.root: invalid XML: mismatched tag (column 2)"
    )
    xml.write_text(good)
    jpeg = year / "JPEGImages" / "000001.jpg"
    jpeg.rename(tmp_path / "away.jpg")
    assert refusal(read_voc, devkit) == f"{xml}: data.root: image '{jpeg}' not found"
    (tmp_path / "away.jpg").rename(jpeg)
    (year / "ImageSets" / "Main" / "val.txt").write_text("\n")
    assert refusal(read_voc, devkit) == (
        f"{year / 'ImageSets' / 'Main' / 'val.txt'}: data.root: no image ids (empty val split)"
    )
    (year / "ImageSets" / "Main" / "train.txt").unlink()
    assert refusal(read_voc, devkit) == (
        f"{year / 'ImageSets' / 'Main' / 'train.txt'}: data.root: not found (the train split's "
        "list of image ids)"
    )
    (devkit / "VOC2012").mkdir()
    assert refusal(read_voc, devkit) == (
        f"{devkit}: data.root: holds VOC2007, VOC2012: name one (data.root={year})"
    )


def test_class_names_rename_or_refuse_another_count(tmp_path: Path, shapes: DetectionIndex) -> None:
    yolo = write_yolo(shapes, tmp_path / "yolo")
    coco = write_coco(shapes, tmp_path / "coco")
    for read, root, where in (
        (read_yolo, yolo, yolo / "data.yaml"),
        (read_coco, coco, coco / "annotations" / "instances_train2017.json"),
    ):
        assert read(root, class_names=["x", "y"]).class_names == ["x", "y"]
        with pytest.raises(UserError) as info:
            read(root, class_names=["x"])
        assert info.value.key == "data.class_names"
        assert str(info.value).startswith(f"data.class_names: 1 names given, but {where} has 2 ")
    (yolo / "data.yaml").write_text("train: images/train\nval: images/val\nnc: 3\nnames: [a, b]\n")
    assert refusal(read_yolo, yolo) == (
        f"{yolo / 'data.yaml'}: data.root: nc: 3, but names lists 2 classes"
    )


def test_yolo_yaml_goes_through_the_bounded_loader(tmp_path: Path, shapes: DetectionIndex) -> None:
    """Whole-number keys (`names: {0: a}`) are read; a repeated id, which a plain safe_load
    would silently let win, is refused on its line, as in every preset."""
    root = write_yolo(shapes, tmp_path)
    (root / "data.yaml").write_text(
        "train: images/train\nval: images/val\nnames:\n  0: a\n  0: b\n"
    )
    message = refusal(read_yolo, root)
    assert message.startswith(f"{root / 'data.yaml'}:5: data.root: ")
    assert "duplicate key" in message
