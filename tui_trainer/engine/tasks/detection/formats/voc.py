"""Pascal VOC XML, the seed's `VOCdevkit` layout.

Layout read (`data.root`):
- `data.root` is `VOCdevkit/VOC2007` (any folder holding `Annotations/`), or `VOCdevkit` with
  exactly one `VOC*` folder in it;
- `ImageSets/Main/train.txt` and `val.txt`: one image id per line;
- `Annotations/<id>.xml` per image, `JPEGImages/<id>.jpg` its image (the XML's `filename` when
  that file is there and `<id>.jpg` is not);
- class names: `data.class_names` when given (objects of other classes are left out, counted
  per class in a note, as the seed's `voc_annotation.py` does), else the sorted set of names
  in the split's XML files;
- boxes: VOC's `xmin`/`ymin` are 1-based pixel indices, so the box's left/top edge is
  `xmin - 1`, `ymin - 1`; `xmax`/`ymax` are the right/bottom edges as they are (a box over
  the whole W x H image is `1 1 W H` in the XML, `(0, 0, W, H)` here; detectron2's rule);
- `difficult` objects are left out, counted in a note (the seed does the same; VOC's own
  evaluation ignores them, and our COCO-style one cannot);
- the image size is the XML's `<size>` (read from the file when missing or 0); the file must
  exist. An image with no objects is a background image.

Refused, one line naming the file and the object (`000005.xml: data.root: object 3 (dog): ...`),
or the XML's line for a syntax error: a missing folder or split list, an empty split, an XML
that does not parse or lacks a box coordinate, a box of non-positive size or outside the image
by more than 1% of a side (within 1%: clipped, counted in one note).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path

from tui_trainer.engine.tasks.detection.formats.common import (
    BoxCheck,
    bad,
    image_size,
    number,
    require_file,
)
from tui_trainer.engine.tasks.detection.index import (
    Annotated,
    DetectionIndex,
    box_array,
    label_array,
)

SPLITS = ("train", "val")

# One object: (class name, xyxy box with 0-based left/top edges, difficult, "object 3 (dog): ").
_Object = tuple[str, tuple[float, float, float, float], bool, str]


def find_year(root: Path) -> Path:
    """The VOC folder: `root` itself if it has Annotations/, else its one `VOC*` folder."""
    if not root.is_dir():
        raise bad(str(root), "not found (expected VOCdevkit/VOC2007 or VOCdevkit)")
    if (root / "Annotations").is_dir():
        return root
    years = sorted(p for p in root.iterdir() if p.name.startswith("VOC") and p.is_dir())
    if len(years) == 1:
        return years[0]
    if years:
        listed = ", ".join(p.name for p in years)
        raise bad(str(root), f"holds {listed}: name one (data.root={years[0]})")
    raise bad(str(root), "no Annotations/ folder and no VOC* folder (expected VOCdevkit/VOC2007)")


def split_ids(year: Path, split: str) -> list[str]:
    """The image ids of `ImageSets/Main/<split>.txt`; UserError if missing or empty."""
    listing = year / "ImageSets" / "Main" / f"{split}.txt"
    try:
        text = listing.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise bad(str(listing), f"not found (the {split} split's list of image ids)") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise bad(str(listing), f"cannot read: {exc}") from None
    ids = [line.split()[0] for line in text.splitlines() if line.strip()]
    if not ids:
        raise bad(str(listing), f"no image ids (empty {split} split)")
    return ids


def _text(node: ET.Element, tag: str) -> str | None:
    child = node.find(tag)
    return child.text.strip() if child is not None and child.text else None


def parse_xml(path: Path) -> tuple[str | None, int, int, list[_Object]]:
    """(filename, width, height, objects) of one annotation file (0 for a missing size)."""
    try:
        tree = ET.parse(path)
    except FileNotFoundError:
        raise bad(str(path), "not found (each listed image needs its annotation)") from None
    except ET.ParseError as exc:
        line, column = exc.position
        problem = str(exc).split(": line ")[0]
        raise bad(f"{path}:{line}", f"invalid XML: {problem} (column {column})") from None
    except OSError as exc:
        raise bad(str(path), f"cannot read: {exc.strerror or exc}") from None
    root = tree.getroot()
    size = root.find("size")
    dims = [number(_text(size, t) or "") if size is not None else None for t in ("width", "height")]
    width, height = (int(d) if d is not None and d > 0 else 0 for d in dims)
    objects: list[_Object] = []
    for n, obj in enumerate(root.iter("object"), 1):
        name = _text(obj, "name")
        where = f"object {n}" + (f" ({name})" if name else "") + ": "
        if not name:
            raise bad(str(path), f"{where}no <name>")
        difficult = (_text(obj, "difficult") or "0") not in ("0", "")
        bndbox = obj.find("bndbox")
        if bndbox is None:
            raise bad(str(path), f"{where}no <bndbox>")
        coords = []
        for tag in ("xmin", "ymin", "xmax", "ymax"):
            value = number(_text(bndbox, tag) or "")
            if value is None:
                raise bad(str(path), f"{where}<{tag}> missing or not a number")
            coords.append(value)
        xmin, ymin, xmax, ymax = coords
        objects.append((name, (xmin - 1, ymin - 1, xmax, ymax), difficult, where))
    return _text(root, "filename"), width, height, objects


def _image(year: Path, image_id: str, filename: str | None) -> Path:
    jpeg = year / "JPEGImages" / f"{image_id}.jpg"
    if not jpeg.is_file() and filename:
        named = year / "JPEGImages" / filename
        if named.is_file():
            return named
    return jpeg


def read_voc(root: Path, *, class_names: list[str] | None = None) -> DetectionIndex:
    """The VOC data set at `root` (the module docstring's layout); UserError on bad input."""
    year = find_year(Path(root))
    parsed: dict[str, list[tuple[Path, Path, int, int, list[_Object]]]] = {}
    for split in SPLITS:
        rows = []
        for image_id in split_ids(year, split):
            xml = year / "Annotations" / f"{image_id}.xml"
            filename, width, height, objects = parse_xml(xml)
            image = _image(year, image_id, filename)
            if width and height:
                require_file(image, str(xml))
            else:
                width, height = image_size(image, str(xml))
            rows.append((xml, image, width, height, objects))
        parsed[split] = rows
    if class_names is None:
        names = sorted({o[0] for rows in parsed.values() for r in rows for o in r[4]})
        if not names:
            raise bad(str(year / "Annotations"), "no objects in any annotation (no classes)")
    else:
        names = list(class_names)
    index = {name: i for i, name in enumerate(names)}
    check = BoxCheck()
    difficult = 0
    other: Counter[str] = Counter()
    splits: dict[str, list[Annotated]] = {}
    for split, rows in parsed.items():
        samples = []
        for n, (xml, image, width, height, objects) in enumerate(rows):
            boxes, labels = [], []
            for name, box, hard, what in objects:
                if name not in index:
                    other[name] += 1
                    continue
                if hard:
                    difficult += 1
                    continue
                boxes.append(check.check(box, width, height, str(xml), what))
                labels.append(index[name])
            samples.append(
                Annotated(box_array(boxes), label_array(labels), width, height, image, None, n)
            )
        splits[split] = samples
    notes = check.note()
    if difficult:
        notes.append(f"left out {difficult} difficult object(s) (difficult=1), as the seed does")
    if other:
        counts = ", ".join(f"{name} ({count})" for name, count in sorted(other.items()))
        notes.append(f"left out {sum(other.values())} object(s) of classes not in names: {counts}")
    train, val = splits["train"], splits["val"]
    return DetectionIndex(
        train, val, names, notes, f"voc {year} (train {len(train)}, val {len(val)})"
    )
