"""Find and decode image files: folders are walked (hidden entries skipped), failures collected."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from tui_trainer.engine.data.decode import BadImage, load_upright
from tui_trainer.errors import UserError

IMAGE_SUFFIXES = frozenset(
    {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm", ".pbm"}
)


@dataclass(frozen=True)
class Found:
    """One input file and the relative name its outputs get."""

    path: Path
    name: str  # relative to the input argument it came from (its folder's name first)


def find_images(inputs: list[str]) -> tuple[list[Found], int]:
    """The image files named or found under `inputs` (sorted per folder), and how many
    non-image files the folders held. A path that does not exist is a UserError."""
    found: list[Found] = []
    ignored = 0
    for item in inputs:
        path = Path(item)
        if not path.exists():
            raise UserError(f"IMAGE_OR_FOLDER: '{item}' not found")
        if path.is_file():
            found.append(Found(path, path.name))
            continue
        for root, dirs, files in os.walk(path):
            dirs[:] = sorted(d for d in dirs if not d.startswith("."))
            for name in sorted(files):
                if name.startswith("."):
                    continue
                file = Path(root) / name
                if file.suffix.lower() not in IMAGE_SUFFIXES:
                    ignored += 1
                    continue
                found.append(Found(file, str(Path(path.resolve().name) / file.relative_to(path))))
    return found, ignored


def read_image(path: Path) -> Image.Image:
    """Decode `path` fully, upright and in 8-bit pixels (`decode.load_upright`: EXIF
    orientation, 16-bit scaling, the pixel limit); ValueError with a short reason otherwise."""
    try:
        return load_upright(path)
    except BadImage as exc:
        raise ValueError(exc.reason) from None
