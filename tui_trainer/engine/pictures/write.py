"""Writing picture sets into a run directory, whole or not at all.

A set is written into a hidden staging folder beside its place (`.tmp-<name>-<pid>`) and then
renamed into place; a set that replaces another (samples/mistakes) swaps: the old one is
renamed aside, the new one in, the old one removed. A reader never sees half a set.
Like everything in a run directory, folders are 0700 and files 0600 whatever the umask.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from pathlib import Path
from typing import BinaryIO

from PIL import Image

from tui_trainer.atomic import PRIVATE_DIR, PRIVATE_FILE
from tui_trainer.engine.pictures.draw import grid
from tui_trainer.engine.pictures.sets import caption
from tui_trainer.runlog.pictures import GRID, INDEX, PictureSet, to_json


def write_set(folder: Path, pictures: PictureSet, tiles: list[Image.Image]) -> None:
    """The set's tiles (00.png, ...), index.json and grid.png into the existing `folder`."""
    for p, t in zip(pictures.pictures, tiles, strict=True):
        _save_png(t, folder / p.file)
    captions = [caption(p, pictures.task) for p in pictures.pictures]
    _save_png(grid(tiles, captions), folder / GRID)
    with _private(folder / INDEX) as fh:
        fh.write(to_json(pictures).encode("utf-8"))


def _private(path: Path) -> BinaryIO:
    """A new file opened for writing, 0600 whatever the umask."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, PRIVATE_FILE)
    return os.fdopen(fd, "wb")


def _save_png(image: Image.Image, path: Path) -> None:
    with _private(path) as fh:
        image.save(fh, format="PNG", compress_level=1)  # fast: written every epoch


def put_set(final: Path, pictures: PictureSet, tiles: list[Image.Image]) -> None:
    """The set at `final`, replacing what was there; on any error nothing new is left behind
    (the old set stays) and the error is raised."""
    final.parent.mkdir(mode=PRIVATE_DIR, parents=True, exist_ok=True)
    staged = final.parent / f".tmp-{final.name}-{os.getpid()}"
    old = final.parent / f".old-{final.name}-{os.getpid()}"
    shutil.rmtree(staged, ignore_errors=True)
    try:
        staged.mkdir(mode=PRIVATE_DIR)
        write_set(staged, pictures, tiles)
        if final.exists():
            shutil.rmtree(old, ignore_errors=True)
            final.rename(old)
            try:
                staged.rename(final)
            except OSError:
                old.rename(final)
                raise
            shutil.rmtree(old, ignore_errors=True)
        else:
            staged.rename(final)
    finally:
        with contextlib.suppress(OSError):
            shutil.rmtree(staged, ignore_errors=True)
