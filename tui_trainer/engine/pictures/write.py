"""Writing picture sets into a run directory, whole or not at all.

A set is written into a hidden staging folder beside its place (`.tmp-<name>-<pid>`) and then
renamed into place; a set that replaces another (samples/mistakes) swaps: the old one is
renamed aside, the new one in, the old one removed. A reader never sees half a set.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from pathlib import Path

from PIL import Image

from tui_trainer.engine.pictures.draw import grid
from tui_trainer.engine.pictures.sets import caption
from tui_trainer.runlog.pictures import GRID, INDEX, PictureSet, to_json


def write_set(folder: Path, pictures: PictureSet, tiles: list[Image.Image]) -> None:
    """The set's tiles (00.png, ...), index.json and grid.png into the existing `folder`."""
    for p, t in zip(pictures.pictures, tiles, strict=True):
        t.save(folder / p.file, format="PNG")
    captions = [caption(p, pictures.task) for p in pictures.pictures]
    grid(tiles, captions).save(folder / GRID, format="PNG")
    (folder / INDEX).write_text(to_json(pictures), encoding="utf-8")


def put_set(final: Path, pictures: PictureSet, tiles: list[Image.Image]) -> None:
    """The set at `final`, replacing what was there; on any error nothing new is left behind
    (the old set stays) and the error is raised."""
    final.parent.mkdir(parents=True, exist_ok=True)
    staged = final.parent / f".tmp-{final.name}-{os.getpid()}"
    old = final.parent / f".old-{final.name}-{os.getpid()}"
    shutil.rmtree(staged, ignore_errors=True)
    try:
        staged.mkdir()
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
