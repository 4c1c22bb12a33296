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


def dataset_namer(dataset: object, indices: Sequence[int]) -> Callable[[int], str] | None:
    """Names for a user's Dataset that lists its files the torchvision way (`samples`: a
    sequence of (path, target) or of paths, as `ImageFolder` has); None for any other."""
    samples = getattr(dataset, "samples", None)
    if not isinstance(samples, Sequence) or isinstance(samples, str):
        return None

    def name(position: int) -> str:
        try:
            item = samples[indices[position]]
        except (IndexError, TypeError):
            return ""
        path = item[0] if isinstance(item, (tuple, list)) and item else item
        return str(path) if isinstance(path, (str, Path)) else ""

    return name
