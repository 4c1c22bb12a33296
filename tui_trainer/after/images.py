"""Find and decode image files: folders are walked (hidden entries skipped), failures collected."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, UnidentifiedImageError

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
    """Decode `path` fully; raises ValueError with a short reason when it is not an image."""
    try:
        with Image.open(path) as img:
            img.load()
            return img.copy()
    except UnidentifiedImageError:
        raise ValueError("not an image file (PIL cannot identify it)") from None
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        if isinstance(exc, OSError) and exc.strerror:
            reason = exc.strerror
        raise ValueError(reason) from None
