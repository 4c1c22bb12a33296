"""Names of validation images for pictures: the image's file, relative to the data's folder."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path


def relative_name(path: Path, root: Path) -> str:
    """`path` relative to `root` (as POSIX text); the file name when it is not under it."""
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return path.name


def namer(files: Sequence[Path | None], root: Path) -> Callable[[int], str]:
    """Validation position → its file's name (`DataBundle.val_name`); "" where a position has
    no file (generated images), which pictures replace by "val #<position>"."""

    def name(position: int) -> str:
        path = files[position] if 0 <= position < len(files) else None
        return relative_name(path, root) if path is not None else ""

    return name
