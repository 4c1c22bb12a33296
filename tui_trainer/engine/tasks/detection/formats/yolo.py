"""The Ultralytics YOLO layout: a `data.yaml`, image folders (or lists), one label file per image.

Layout read (`data.root`):
- `data.root` is the folder holding `data.yaml` (or `data.yml`, or its only `*.yaml` file), or
  the YAML file itself;
- `path:` the dataset folder; relative to the YAML file's folder, which it is when absent;
- `train:` and `val:` each an image folder (searched recursively), a `.txt` list of image paths
  (one per line; relative ones are relative to the list's folder, `./images/a.jpg` as
  Ultralytics writes them), or a list of those; relative to `path` (a `../x` that is not there
  but `x` is, is `x`: Roboflow's exports say `../train/images`, as Ultralytics reads them).
  `test:` is not read;
- `names:` a list (`[cat, dog]`) or a mapping `{0: cat, 1: dog}` whose ids are 0..n-1 (`nc:`,
  when given, must be its length); `data.class_names`, when given, renames them (same count);
- labels: each image's path with its last `images` folder replaced by `labels` and the suffix
  by `.txt` (`images/train/a.jpg` -> `labels/train/a.txt`; no `images` folder in the path: the
  `.txt` beside the image). One box per line: `class cx cy w h`, normalised to [0, 1] by the
  upright image's width and height. No label file, or an empty one: a background image.

Refused, one line naming the file and line: a missing `names`/`train`/`val`, names ids that are
not 0..n-1, a missing image folder or list, a split with no images, a line that is not 5
numbers, a class id outside `names`, a box of non-positive size or outside the image by more
than 1% of its side (within 1%: clipped, counted in one note). Polygon (segment) labels are not
read: convert them to boxes first.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from tui_trainer.config.yaml_safe import load_yaml_file
from tui_trainer.engine.data.files import IMAGE_SUFFIXES, list_images
from tui_trainer.engine.tasks.detection.formats.common import (
    BoxCheck,
    bad,
    image_size,
    number,
)
from tui_trainer.engine.tasks.detection.index import (
    Annotated,
    DetectionIndex,
    box_array,
    label_array,
)
from tui_trainer.errors import UserError

MAX_LABEL_BYTES = 16 * 1024 * 1024
YAML_NAMES = ("data.yaml", "data.yml")


def find_yaml(root: Path) -> Path:
    """The dataset's YAML file: `root` itself, or `data.yaml` / the only `*.yaml` in `root`."""
    if root.is_file():
        return root
    if not root.is_dir():
        raise bad(str(root), "not found (expected a folder holding data.yaml, or the YAML file)")
    for name in YAML_NAMES:
        if (root / name).is_file():
            return root / name
    found = sorted(p for p in root.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file())
    if len(found) == 1:
        return found[0]
    listed = f" (found {', '.join(p.name for p in found)}: name one)" if found else ""
    raise bad(str(root), f"no data.yaml in this folder{listed}")


def _load_yaml(path: Path) -> dict[str, Any]:
    """The YAML file's top-level mapping, read by the bounded loader every preset goes through
    (size, nesting, aliases, duplicate keys; whole-number keys allowed for `names: {0: a}`);
    UserError naming the line."""
    try:
        data = load_yaml_file(path, int_keys=True).data
    except UserError as exc:
        raise bad(exc.location or str(path), exc.text) from None
    if not isinstance(data, dict):
        raise bad(str(path), "expected a mapping with path, train, val and names")
    return data


def read_names(data: dict[str, Any], source: Path) -> list[str]:
    """`names` as a list of strings: a list, or a mapping whose keys are the ids 0..n-1."""
    if "names" not in data:
        raise bad(str(source), "names: missing (a list of class names, or {id: name})")
    names = data["names"]
    if isinstance(names, dict):
        keys = list(names)
        ids = []
        for key in keys:
            value = number(str(key))
            if value is None or value != int(value) or isinstance(key, bool):
                raise bad(str(source), f"names: key {key!r} is not a class id (0, 1, ...)")
            ids.append(int(value))
        if sorted(ids) != list(range(len(ids))):
            raise bad(
                str(source),
                f"names: ids must be 0..{len(ids) - 1} (each once), got {sorted(ids)}",
            )
        by_id = dict(zip(ids, names.values(), strict=True))
        names = [by_id[i] for i in range(len(ids))]
    if not isinstance(names, list) or not names:
        raise bad(str(source), "names: expected a non-empty list of class names, or {id: name}")
    for i, name in enumerate(names):
        if not isinstance(name, str | int | float) or isinstance(name, bool) or str(name) == "":
            raise bad(str(source), f"names: class {i}: {name!r} is not a name")
    nc = data.get("nc")
    if nc is not None and nc != len(names):
        raise bad(str(source), f"nc: {nc!r}, but names lists {len(names)} classes")
    return [str(n) for n in names]


def _dataset_dir(data: dict[str, Any], source: Path) -> Path:
    base = source.parent
    path = data.get("path")
    if path is None or path == "":
        return base
    if not isinstance(path, str):
        raise bad(str(source), f"path: expected a folder, got {path!r}")
    folder = Path(path).expanduser()
    return folder if folder.is_absolute() else base / folder


def _list_file(listing: Path, where: str) -> list[Path]:
    """Image paths from a `.txt` list: one per line, relative ones to the list's folder."""
    try:
        text = listing.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise bad(where, f"cannot read image list '{listing}': {exc}") from None
    images = []
    for number_, line in enumerate(text.splitlines(), 1):
        entry = line.strip()
        if not entry:
            continue
        path = Path(entry).expanduser()
        path = path if path.is_absolute() else listing.parent / path
        if path.suffix.lower() not in IMAGE_SUFFIXES:
            raise bad(f"{listing}:{number_}", f"'{entry}' is not an image file name")
        if not path.is_file():
            raise bad(f"{listing}:{number_}", f"image '{path}' not found")
        images.append(path)
    return images


def split_images(data: dict[str, Any], split: str, base: Path, source: Path) -> list[Path]:
    """The images of one split (`train` or `val`): folders and `.txt` lists, in order."""
    entries = data.get(split)
    if entries is None or entries == "" or entries == []:
        raise bad(str(source), f"{split}: missing (an image folder or a .txt list of images)")
    if isinstance(entries, str):
        entries = [entries]
    if not isinstance(entries, list) or not all(isinstance(e, str) for e in entries):
        raise bad(str(source), f"{split}: expected a folder, a .txt list, or a list of them")
    images: list[Path] = []
    for entry in entries:
        target = Path(entry).expanduser()
        target = target if target.is_absolute() else base / target
        if not target.exists() and entry.startswith("../") and (base / entry[3:]).exists():
            target = base / entry[3:]  # Roboflow's exports: `../train/images` beside the yaml
        if target.is_dir():
            images += list_images(target, recursive=True).files
        elif target.is_file() and target.suffix == ".txt":
            images += _list_file(target, str(source))
        else:
            raise bad(str(source), f"{split}: '{target}' not found (an image folder or .txt list)")
    if not images:
        raise bad(str(source), f"{split}: no images in {', '.join(entries)} (empty split)")
    return images


def label_path(image: Path) -> Path:
    """Ultralytics' rule: the last `images` folder of the path becomes `labels`, suffix `.txt`."""
    parts = list(image.parts)
    for i in range(len(parts) - 2, -1, -1):
        if parts[i] == "images":
            parts[i] = "labels"
            break
    return Path(*parts).with_suffix(".txt")


def read_label_file(
    path: Path, names: list[str], width: int, height: int, check: BoxCheck
) -> tuple[list[list[float]], list[int]] | None:
    """(boxes xyxy in pixels, class ids) of one label file; None when there is no such file."""
    try:
        with path.open("rb") as fh:
            raw = fh.read(MAX_LABEL_BYTES + 1)
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError as exc:
        raise bad(str(path), f"cannot read: {exc.strerror or exc}") from None
    if len(raw) > MAX_LABEL_BYTES:
        raise bad(str(path), f"larger than {MAX_LABEL_BYTES:,} bytes; not a label file")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise bad(str(path), f"not UTF-8 text (byte offset {exc.start})") from None
    boxes, labels = [], []
    for line_no, line in enumerate(text.splitlines(), 1):
        fields = line.split()
        if not fields:
            continue
        where = f"{path}:{line_no}"
        if len(fields) != 5:
            raise bad(
                where, f"expected 5 fields 'class cx cy w h', got {len(fields)}: {line.strip()!r}"
            )
        values = [v for v in map(number, fields) if v is not None and math.isfinite(v)]
        if len(values) != 5:
            raise bad(where, f"expected 5 numbers 'class cx cy w h', got {line.strip()!r}")
        cls, cx, cy, w, h = values
        if cls != int(cls) or not 0 <= cls < len(names):
            raise bad(where, f"class id {fields[0]} outside names (0..{len(names) - 1})")
        if w <= 0 or h <= 0:
            raise bad(where, f"box width {fields[3]} and height {fields[4]} must be positive")
        x1, x2 = (cx - w / 2) * width, (cx + w / 2) * width
        y1, y2 = (cy - h / 2) * height, (cy + h / 2) * height
        boxes.append(check.check((x1, y1, x2, y2), width, height, where))
        labels.append(int(cls))
    return boxes, labels


def read_yolo(root: Path, *, class_names: list[str] | None = None) -> DetectionIndex:
    """The YOLO data set at `root` (the module docstring's layout); UserError on bad input."""
    source = find_yaml(Path(root))
    data = _load_yaml(source)
    names = read_names(data, source)
    if class_names is not None:
        if len(class_names) != len(names):
            raise UserError(
                f"{len(class_names)} names given, but {source} has {len(names)} classes",
                key="data.class_names",
            )
        names = list(class_names)
    base = _dataset_dir(data, source)
    check = BoxCheck()
    notes: list[str] = []
    splits: dict[str, list[Annotated]] = {}
    for split in ("train", "val"):
        samples = []
        unlabelled = 0
        for image_id, image in enumerate(split_images(data, split, base, source)):
            width, height = image_size(image, str(image))
            found = read_label_file(label_path(image), names, width, height, check)
            if found is None:
                unlabelled += 1
                found = ([], [])
            boxes, labels = found
            samples.append(
                Annotated(
                    box_array(boxes), label_array(labels), width, height, image, None, image_id
                )
            )
        if unlabelled == len(samples):
            notes.append(
                f"{split}: none of the {len(samples)} images has a label file (looked for "
                f"{label_path(samples[0].path or Path())}): all are background images"
            )
        splits[split] = samples
    notes += check.note()
    train, val = splits["train"], splits["val"]
    return DetectionIndex(
        train,
        val,
        names,
        notes,
        f"yolo {source} (train {len(train)}, val {len(val)})",
    )
