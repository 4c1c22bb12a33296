"""COCO JSON: `annotations/instances_<split>.json` for train and val, images beside them.

Layout read (`data.root`):
- `data.root/annotations/instances_train*.json` and `instances_val*.json`, exactly one of each
  (`instances_train2017.json`, `instances_val2017.json`);
- the images of a split in `data.root/<split>/` or else `data.root/images/<split>/`, `<split>`
  being the JSON file's name after `instances_` (`train2017`); an image's `file_name` is
  relative to that folder. The first of the two folders that exists is used;
- class names from `categories`, sorted by category id; ids may be sparse (1, 3, 7): class
  index i is the i-th category (so COCO's 80 categories are 0..79). Both files must list the
  same categories; `data.class_names`, when given, renames them (same count);
- `bbox` is `[x, y, width, height]` in pixels; each image's size is its `width` / `height`
  (read from the file when absent); every image listed must exist;
- images without annotations are background images, kept (torchvision's reference drops them
  from training; COCO val2017 has 48);
- `iscrowd: 1` annotations (crowd regions, which COCO's evaluation ignores) are left out, with
  a note counting them.

Refused, one line naming the file and the JSON key (`annotations[12]`): a missing annotations
folder, file or image folder, an annotation for an unknown image id or category id, a bbox
that is not 4 numbers, of non-positive size, or outside its image by more than 1% of a side
(within 1%: clipped, counted in one note), a split with no images.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from tui_trainer.engine.tasks.detection.formats.common import (
    BoxCheck,
    bad,
    image_size,
    require_file,
)
from tui_trainer.engine.tasks.detection.index import (
    Annotated,
    DetectionIndex,
    box_array,
    label_array,
)
from tui_trainer.errors import UserError

SPLITS = ("train", "val")


def find_json(root: Path, split: str) -> Path:
    """The one `annotations/instances_<split>*.json` under `root`."""
    folder = root / "annotations"
    if not folder.is_dir():
        raise bad(
            str(root),
            f"no annotations/ folder (COCO layout: {root}/annotations/instances_{split}2017.json)",
        )
    found = sorted(folder.glob(f"instances_{split}*.json"))
    if len(found) != 1:
        what = f"{len(found)}: {', '.join(p.name for p in found)}" if found else "none"
        raise bad(str(folder), f"expected one instances_{split}*.json, found {what}")
    return found[0]


def image_folder(root: Path, json_path: Path) -> Path:
    """`root/<split>/` or `root/images/<split>/`, `<split>` from the JSON's name."""
    split = json_path.stem.removeprefix("instances_")
    candidates = [root / split, root / "images" / split]
    for folder in candidates:
        if folder.is_dir():
            return folder
    raise bad(
        str(json_path),
        f"image folder not found: looked for {candidates[0]} and {candidates[1]}",
    )


def _load(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            data = json.load(fh)
    except OSError as exc:
        raise bad(str(path), f"cannot read: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise bad(str(path), f"not UTF-8 JSON (byte offset {exc.start})") from None
    except json.JSONDecodeError as exc:
        raise bad(f"{path}:{exc.lineno}", f"invalid JSON: {exc.msg}") from None
    if not isinstance(data, dict):
        raise bad(str(path), "expected a JSON object with images, annotations, categories")
    for key in ("images", "annotations", "categories"):
        if not isinstance(data.get(key), list):
            raise bad(str(path), f"{key}: missing or not a list")
    return data


def _int(value: Any, path: Path, key: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise bad(str(path), f"{key}: expected an integer id, got {value!r}")
    return value


def categories(data: dict[str, Any], path: Path) -> list[tuple[int, str]]:
    """(category id, name) sorted by id; UserError on a bad or repeated entry."""
    found: dict[int, str] = {}
    for i, cat in enumerate(data["categories"]):
        key = f"categories[{i}]"
        if not isinstance(cat, dict) or not isinstance(cat.get("name"), str):
            raise bad(str(path), f"{key}: expected an object with id and name")
        cid = _int(cat.get("id"), path, f"{key}.id")
        if cid in found:
            raise bad(str(path), f"{key}.id: category id {cid} given twice")
        found[cid] = cat["name"]
    if not found:
        raise bad(str(path), "categories: empty (no classes)")
    return sorted(found.items())


def _bbox(value: Any, path: Path, key: str) -> tuple[float, float, float, float]:
    ok = isinstance(value, list) and len(value) == 4
    ok = ok and all(isinstance(v, int | float) and not isinstance(v, bool) for v in value)
    if not ok or not all(math.isfinite(v) for v in value):
        raise bad(str(path), f"{key}: expected [x, y, width, height] numbers, got {value!r}")
    x, y, w, h = (float(v) for v in value)
    if w <= 0 or h <= 0:
        raise bad(str(path), f"{key}: width {w:g} and height {h:g} must be positive")
    return x, y, x + w, y + h


def read_split(
    root: Path, path: Path, data: dict[str, Any], cat_index: dict[int, int], check: BoxCheck
) -> tuple[list[Annotated], int]:
    """One split's samples (in the JSON's image order) and how many crowd boxes were left out.

    `data` is the loaded JSON of `path`."""
    folder = image_folder(root, path)
    images: dict[int, tuple[Path, int, int]] = {}
    order: list[int] = []
    for i, entry in enumerate(data["images"]):
        key = f"images[{i}]"
        if not isinstance(entry, dict) or not isinstance(entry.get("file_name"), str):
            raise bad(str(path), f"{key}: expected an object with id and file_name")
        image_id = _int(entry.get("id"), path, f"{key}.id")
        if image_id in images:
            raise bad(str(path), f"{key}.id: image id {image_id} given twice")
        file = folder / entry["file_name"]
        width, height = entry.get("width"), entry.get("height")
        if isinstance(width, int) and isinstance(height, int) and width > 0 and height > 0:
            require_file(file, str(path), f"{key}: ")
        else:
            width, height = image_size(file, str(path), f"{key}: ")
        images[image_id] = (file, width, height)
        order.append(image_id)
    if not images:
        raise bad(str(path), "images: empty (no images in this split)")
    boxes: dict[int, list[list[float]]] = {i: [] for i in images}
    labels: dict[int, list[int]] = {i: [] for i in images}
    crowd = 0
    for i, ann in enumerate(data["annotations"]):
        key = f"annotations[{i}]"
        if not isinstance(ann, dict):
            raise bad(str(path), f"{key}: expected an object")
        image_id = _int(ann.get("image_id"), path, f"{key}.image_id")
        if image_id not in images:
            raise bad(str(path), f"{key}.image_id: unknown image id {image_id} (not in images)")
        cid = _int(ann.get("category_id"), path, f"{key}.category_id")
        if cid not in cat_index:
            raise bad(str(path), f"{key}.category_id: unknown category id {cid}")
        if ann.get("iscrowd", 0) == 1:
            crowd += 1
            continue
        _, width, height = images[image_id]
        box = _bbox(ann.get("bbox"), path, f"{key}.bbox")
        boxes[image_id].append(check.check(box, width, height, str(path), f"{key}.bbox: "))
        labels[image_id].append(cat_index[cid])
    samples = [
        Annotated(
            box_array(boxes[i]),
            label_array(labels[i]),
            images[i][1],
            images[i][2],
            images[i][0],
            None,
            i,
        )
        for i in order
    ]
    return samples, crowd


def read_coco(root: Path, *, class_names: list[str] | None = None) -> DetectionIndex:
    """The COCO data set at `root` (the module docstring's layout); UserError on bad input."""
    root = Path(root)
    if not root.is_dir():
        raise bad(str(root), "not found (expected a folder holding annotations/instances_*.json)")
    paths = {split: find_json(root, split) for split in SPLITS}
    data = {split: _load(p) for split, p in paths.items()}
    cats = {split: categories(data[split], p) for split, p in paths.items()}
    if cats["train"] != cats["val"]:
        raise bad(str(paths["val"]), f"categories: differ from those of {paths['train'].name}")
    names = [name for _, name in cats["train"]]
    if class_names is not None:
        if len(class_names) != len(names):
            raise UserError(
                f"{len(class_names)} names given, but {paths['train']} has {len(names)} categories",
                key="data.class_names",
            )
        names = list(class_names)
    cat_index = {cid: i for i, (cid, _) in enumerate(cats["train"])}
    check = BoxCheck()
    train, crowd_train = read_split(root, paths["train"], data.pop("train"), cat_index, check)
    val, crowd_val = read_split(root, paths["val"], data.pop("val"), cat_index, check)
    notes = check.note()
    if crowd_train + crowd_val:
        notes.append(
            f"left out {crowd_train + crowd_val} crowd annotation(s) (iscrowd=1; train "
            f"{crowd_train}, val {crowd_val})"
        )
    return DetectionIndex(
        train,
        val,
        names,
        notes,
        f"coco {root} (train {len(train)}, val {len(val)})",
    )
