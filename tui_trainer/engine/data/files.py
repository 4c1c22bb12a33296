"""The one folder walk behind image folders and mask folders.

What is skipped, and why:
- hidden entries (`.name`: macOS `._x.jpg` resource forks, `.Trashes/`, `.DS_Store`, `.git/`)
  and `__MACOSX/` (left by zip archives made on a Mac): metadata, never images or classes;
- files whose suffix is not an image format;
- symbolic links to folders, wherever they point: a link back into the root would read the same
  images twice (under another class name, or forever in a loop), a link out of it would read
  data that is not under the root. Each one is reported once in `WalkResult.skipped_links`.
- a linked file whose real file is already listed (the same image twice). Linked files are
  read otherwise: symlink "farms" that split one image store into train/val are common.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm")
SKIPPED_NAMES = frozenset({"__MACOSX"})


def is_hidden(name: str) -> bool:
    """True for names that hold metadata, not data (dot-files, `__MACOSX`)."""
    return name.startswith(".") or name in SKIPPED_NAMES


@dataclass
class WalkResult:
    """The files found under a root, sorted, and what was left out on purpose."""

    files: list[Path] = field(default_factory=list)
    skipped_links: list[Path] = field(default_factory=list)
    duplicates: list[Path] = field(default_factory=list)

    def warnings(self, what: str) -> list[str]:
        """One line per kind of thing that was skipped (nothing when nothing was)."""
        out = []
        if self.skipped_links:
            out.append(
                f"{what}: {len(self.skipped_links)} linked folder(s) not followed, e.g. "
                f"'{self.skipped_links[0]}' (links to folders are never read: no image twice)"
            )
        if self.duplicates:
            out.append(
                f"{what}: {len(self.duplicates)} link(s) to an image already listed skipped, "
                f"e.g. '{self.duplicates[0]}'"
            )
        return out


def list_images(
    folder: Path, *, recursive: bool, seen: set[str] | None = None, result: WalkResult | None = None
) -> WalkResult:
    """Image files under `folder` (sorted by path), by the rules in this module's docstring.

    `seen` (real paths already listed) lets several walks share one duplicate check, e.g. the
    class folders of one root.
    """
    result = result if result is not None else WalkResult()
    seen = seen if seen is not None else set()
    found: list[Path] = []
    stack = [folder]
    while stack:
        current = stack.pop()
        try:
            entries = sorted(os.scandir(current), key=lambda e: e.name)
        except OSError:
            continue
        for entry in entries:
            if is_hidden(entry.name):
                continue
            path = Path(entry.path)
            if entry.is_dir(follow_symlinks=False):
                if recursive:
                    stack.append(path)
                continue
            if entry.is_symlink():
                if os.path.isdir(path):
                    result.skipped_links.append(path)
                    continue
                if not os.path.isfile(path):
                    continue  # a dangling link
            elif not entry.is_file(follow_symlinks=False):
                continue
            if path.suffix.lower() not in IMAGE_SUFFIXES:
                continue
            real = os.path.realpath(path)
            if real in seen:
                result.duplicates.append(path)
                continue
            seen.add(real)
            found.append(path)
    result.files.extend(sorted(found))
    return result


def class_folders(root: Path) -> tuple[list[str], list[tuple[Path, int]], WalkResult]:
    """`root/<class>/**/<image>`: sorted class names, (file, class index) pairs and the walk.

    Class folders are the visible, real (not linked) sub-folders of `root`; images anywhere
    below a class folder belong to it, as with torchvision's ImageFolder.
    """
    result = WalkResult()
    seen: set[str] = set()
    classes: list[str] = []
    samples: list[tuple[Path, int]] = []
    for entry in sorted(os.scandir(root), key=lambda e: e.name):
        if is_hidden(entry.name):
            continue
        if entry.is_symlink() and os.path.isdir(entry.path):
            result.skipped_links.append(Path(entry.path))
            continue
        if not entry.is_dir(follow_symlinks=False):
            continue
        before = len(result.files)
        list_images(Path(entry.path), recursive=True, seen=seen, result=result)
        index = len(classes)
        classes.append(entry.name)
        samples.extend((path, index) for path in result.files[before:])
    return classes, samples, result
