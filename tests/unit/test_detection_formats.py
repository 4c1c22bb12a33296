"""The detection readers: YOLO, COCO and VOC folders written from the same generated shapes read
back to the same boxes, labels and class names; each layout's own features (names as a mapping,
.txt image lists, sparse COCO category ids, crowd boxes, VOC difficult objects, background
images, clipping of boxes slightly outside their image)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from support.detdata import write_coco, write_voc, write_yolo

from tui_trainer.engine.tasks.detection.formats.coco import read_coco
from tui_trainer.engine.tasks.detection.formats.voc import read_voc
from tui_trainer.engine.tasks.detection.formats.yolo import read_yolo
from tui_trainer.engine.tasks.detection.index import DetectionIndex, load_rgb
from tui_trainer.engine.tasks.detection.shapes import generate_shapes


@pytest.fixture(scope="module")
def shapes() -> DetectionIndex:
    return generate_shapes(12, 48, seed=3, num_classes=3, max_shapes=3, val_fraction=0.25)


def same_boxes(read: DetectionIndex, truth: DetectionIndex, names: list[str] | None = None) -> None:
    """`read` holds `truth`'s images in order with the same boxes and classes (by name)."""
    assert (len(read.train), len(read.val)) == (len(truth.train), len(truth.val))
    for got, want in zip(read.train + read.val, truth.train + truth.val, strict=True):
        assert (got.width, got.height) == (want.width, want.height)
        assert got.boxes.dtype == np.float32 and got.labels.dtype == np.int64
        np.testing.assert_allclose(got.boxes, want.boxes, atol=1e-3)
        got_names = [read.class_names[i] for i in got.labels]
        assert got_names == [(names or truth.class_names)[i] for i in want.labels]
        assert got.path is not None and got.path.is_file()


def test_yolo_round_trip(tmp_path: Path, shapes: DetectionIndex) -> None:
    read = read_yolo(write_yolo(shapes, tmp_path), class_names=None)
    assert read.class_names == shapes.class_names
    same_boxes(read, shapes)
    assert read.notes == []
    assert read.source == f"yolo {tmp_path / 'data.yaml'} (train 9, val 3)"
    # PNG keeps pixels exactly; load_rgb decodes them.
    np.testing.assert_array_equal(load_rgb(read.train[0]), shapes.train[0].pixels)
    # The YAML file itself names the data set too.
    assert read_yolo(tmp_path / "data.yaml", class_names=None).class_names == shapes.class_names


def test_coco_round_trip(tmp_path: Path, shapes: DetectionIndex) -> None:
    read = read_coco(write_coco(shapes, tmp_path), class_names=None)
    assert read.class_names == shapes.class_names
    same_boxes(read, shapes)
    assert [a.image_id for a in read.val] == [1, 2, 3]  # COCO's own ids
    assert read.notes == []


def test_voc_round_trip(tmp_path: Path, shapes: DetectionIndex) -> None:
    devkit = write_voc(shapes, tmp_path)
    # data.class_names fixes the order; else the sorted names found in the XML files.
    read = read_voc(devkit, class_names=shapes.class_names)
    assert read.class_names == shapes.class_names
    same_boxes(read, shapes)
    by_sorted = read_voc(devkit / "VOC2007", class_names=None)
    assert by_sorted.class_names == sorted(shapes.class_names)
    same_boxes(by_sorted, shapes)
    # JPEG changes pixels a little, never the size.
    assert load_rgb(read.train[0]).shape == shapes.train[0].pixels.shape


def test_yolo_names_mapping_and_txt_lists(tmp_path: Path, shapes: DetectionIndex) -> None:
    root = write_yolo(shapes, tmp_path / "data", names_as_mapping=True)
    images = sorted((root / "images" / "train").glob("*.png"))
    # A .txt list with Ultralytics' ./ paths and plain relative ones, the yaml elsewhere.
    (root / "train.txt").write_text("".join(f"./images/train/{p.name}\n" for p in images[:5]))
    (root / "more.txt").write_text("".join(f"images/train/{p.name}\n\n" for p in images[5:]))
    (root / "data.yaml").write_text(
        "path: data\ntrain: [train.txt, more.txt]\nval: images/val\n"
        "names:\n  2: triangle\n  0: rectangle\n  1: ellipse\n"
    )
    moved = tmp_path / "data.yaml"
    (root / "data.yaml").rename(moved)
    read = read_yolo(moved, class_names=None)
    assert read.class_names == ["rectangle", "ellipse", "triangle"]
    same_boxes(read, shapes)


def test_yolo_roboflow_export_layout(tmp_path: Path, shapes: DetectionIndex) -> None:
    """Roboflow writes train/images + train/labels and `../train/images` in data.yaml."""
    flat = write_yolo(shapes, tmp_path / "flat")
    root = tmp_path / "export"
    for split, folder in (("train", "train"), ("val", "valid")):
        for kind in ("images", "labels"):
            (root / folder).mkdir(parents=True, exist_ok=True)
            (flat / kind / split).rename(root / folder / kind)
    (root / "data.yaml").write_text(
        "train: ../train/images\nval: ../valid/images\nnc: 3\n"
        "names: ['rectangle', 'ellipse', 'triangle']\n"
    )
    same_boxes(read_yolo(root, class_names=None), shapes)


def test_yolo_background_images(tmp_path: Path, shapes: DetectionIndex) -> None:
    root = write_yolo(shapes, tmp_path)
    (root / "labels" / "train" / "00000.txt").unlink()  # missing: background
    (root / "labels" / "train" / "00001.txt").write_text("\n  \n")  # empty: background
    read = read_yolo(root, class_names=None)
    assert [len(a.boxes) for a in read.train[:2]] == [0, 0]
    assert read.train[0].boxes.shape == (0, 4) and read.train[0].labels.shape == (0,)
    np.testing.assert_allclose(read.train[2].boxes, shapes.train[2].boxes, atol=1e-3)
    # A split without any label file is read, with a note saying so.
    for f in (root / "labels" / "val").iterdir():
        f.unlink()
    notes = read_yolo(root, class_names=None).notes
    assert notes == [
        f"val: none of the 3 images has a label file (looked for "
        f"{root / 'labels' / 'val' / '00000.txt'}): all are background images"
    ]


def test_coco_sparse_category_ids_crowd_and_background(
    tmp_path: Path, shapes: DetectionIndex
) -> None:
    root = write_coco(shapes, tmp_path, category_ids=[7, 1, 3])
    # Categories sorted by id: 1 ellipse, 3 triangle, 7 rectangle -> 0, 1, 2.
    path = root / "annotations" / "instances_train2017.json"
    data = json.loads(path.read_text())
    data["annotations"].append(
        {"id": 999, "image_id": 1, "category_id": 3, "bbox": [0, 0, 5, 5], "iscrowd": 1}
    )
    data["annotations"] = [a for a in data["annotations"] if a["image_id"] != 2]
    path.write_text(json.dumps(data))
    read = read_coco(root, class_names=None)
    assert read.class_names == ["ellipse", "triangle", "rectangle"]
    assert len(read.train[1].boxes) == 0  # no annotations: a background image
    truth = shapes.train
    for got, want in zip(read.train[2:] + read.val, truth[2:] + shapes.val, strict=True):
        assert [read.class_names[i] for i in got.labels] == [
            shapes.class_names[i] for i in want.labels
        ]
    assert len(read.train[0].boxes) == len(truth[0].boxes)  # the crowd box is not among them
    assert read.notes == ["left out 1 crowd annotation(s) (iscrowd=1; train 1, val 0)"]


def test_coco_images_folder_and_missing_sizes(tmp_path: Path, shapes: DetectionIndex) -> None:
    root = write_coco(shapes, tmp_path)
    (root / "images").mkdir()
    for split in ("train2017", "val2017"):
        (root / split).rename(root / "images" / split)
    path = root / "annotations" / "instances_val2017.json"
    data = json.loads(path.read_text())
    for image in data["images"]:
        del image["width"], image["height"]
    path.write_text(json.dumps(data))
    same_boxes(read_coco(root, class_names=None), shapes)


def test_voc_difficult_and_other_classes(tmp_path: Path, shapes: DetectionIndex) -> None:
    devkit = write_voc(shapes, tmp_path)
    xml = devkit / "VOC2007" / "Annotations" / "000001.xml"
    text = xml.read_text()
    xml.write_text(text.replace("<difficult>0</difficult>", "<difficult>1</difficult>", 1))
    n_first = len(shapes.train[0].boxes)
    read = read_voc(devkit, class_names=shapes.class_names)
    assert len(read.train[0].boxes) == n_first - 1
    assert read.notes == ["left out 1 difficult object(s) (difficult=1), as the seed does"]
    # data.class_names naming a subset: objects of the other classes are left out, counted.
    only = read_voc(write_voc(shapes, tmp_path / "fresh"), class_names=["triangle"])
    every = shapes.train + shapes.val
    count = {
        n: sum(int((a.labels == i).sum()) for a in every) for i, n in enumerate(shapes.class_names)
    }
    assert sum(len(a.boxes) for a in only.train + only.val) == count["triangle"]
    assert only.notes == [
        f"left out {count['ellipse'] + count['rectangle']} object(s) of classes not in names: "
        f"ellipse ({count['ellipse']}), rectangle ({count['rectangle']})"
    ]


def test_slightly_outside_boxes_clipped_with_one_note(tmp_path: Path) -> None:
    root = tmp_path / "d"
    (root / "images" / "train").mkdir(parents=True)
    (root / "labels" / "train").mkdir(parents=True)
    Image.new("RGB", (200, 100)).save(root / "images" / "train" / "a.png")
    # Box edges 0.5% outside on the left and right, 0.8% below: clipped, counted in one note
    # (3 boxes; val is the same folder, so 6 in all).
    (root / "labels" / "train" / "a.txt").write_text(
        "0 0.1 0.5 0.21 0.2\n1 0.9 0.5 0.21 0.2\n0 0.5 0.9 0.2 0.216\n0 0.5 0.5 0.2 0.2\n"
    )
    (root / "data.yaml").write_text("train: images/train\nval: images/train\nnames: [a, b]\n")
    read = read_yolo(root, class_names=None)
    np.testing.assert_allclose(
        read.train[0].boxes,
        [[0, 40, 41, 60], [159, 40, 200, 60], [80, 79.2, 120, 100], [80, 40, 120, 60]],
        atol=1e-3,
    )
    assert read.notes == [
        "clipped 6 box(es) slightly outside their image (within 1% of its side) to the image"
    ]


def test_exif_rotated_image_size_is_upright(tmp_path: Path) -> None:
    root = tmp_path / "d"
    (root / "images" / "train").mkdir(parents=True)
    exif = Image.Exif()
    exif[0x0112] = 6  # stored sideways: shown 90 degrees turned
    Image.new("RGB", (80, 40)).save(root / "images" / "train" / "a.jpg", exif=exif)
    (root / "data.yaml").write_text("train: images/train\nval: images/train\nnames: [a]\n")
    read = read_yolo(root, class_names=None)
    assert (read.train[0].width, read.train[0].height) == (40, 80)
    assert load_rgb(read.train[0]).shape == (80, 40, 3)


def test_load_rgb_converts_modes(tmp_path: Path) -> None:
    from tui_trainer.engine.tasks.detection.index import Annotated

    empty = (np.zeros((0, 4), np.float32), np.zeros(0, np.int64))
    for mode, value in (("L", 100), ("RGBA", (10, 20, 30, 0)), ("I;16", 65535)):
        path = tmp_path / f"{mode.replace(';', '')}.png"
        Image.new(mode, (4, 3), value).save(path)
        pixels = load_rgb(Annotated(*empty, 4, 3, path))
        assert pixels.shape == (3, 4, 3) and pixels.dtype == np.uint8
    assert load_rgb(Annotated(*empty, 4, 3, tmp_path / "L.png"))[0, 0].tolist() == [100] * 3
