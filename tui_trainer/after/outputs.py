"""Atomic outputs: a result folder appears complete or not at all, and nothing is overwritten."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from tui_trainer.errors import UserError


def timestamped(parent: Path) -> Path:
    """A fresh `parent/<YYYYmmdd-HHMMSS>` path (suffixed -2, -3 ... if taken); not created."""
    base = parent / time.strftime("%Y%m%d-%H%M%S")
    path, n = base, 1
    while path.exists():
        n += 1
        path = base.with_name(f"{base.name}-{n}")
    return path


def _why(exc: OSError) -> str:
    return exc.strerror or type(exc).__name__


@contextlib.contextmanager
def staged_dir(final: Path, key: str) -> Iterator[Path]:
    """Yield a hidden temp folder beside `final`; on success rename it to `final`.

    `final` must not exist, or be an empty folder. On any error the temp folder is removed,
    so a reader never sees a half-written result. `key` names the option in error messages.
    """
    if final.exists() and (not final.is_dir() or any(final.iterdir())):
        raise UserError(f"{key}: '{final}' already exists and is not empty (choose a new folder)")
    parent = final.parent
    created = [p for p in (parent, *parent.parents) if not p.exists()]
    try:
        parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.", suffix=".tmp", dir=parent))
    except OSError as exc:
        _remove_empty(created)
        raise UserError(f"{key}: cannot write in '{parent}' ({_why(exc)})") from None
    try:
        yield tmp
        os.replace(tmp, final)  # replaces an empty folder atomically (POSIX rename)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        _remove_empty(created)
        raise


def _remove_empty(folders: list[Path]) -> None:
    """Remove folders this module created (innermost first) if they are still empty."""
    for folder in folders:
        with contextlib.suppress(OSError):
            folder.rmdir()


def writable_file(path: Path, key: str) -> None:
    """Refuse an output file that exists, or whose folder cannot be created or written."""
    if path.exists():
        raise UserError(f"{key}: '{path}' already exists (choose another name)")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"{key}: cannot create folder '{path.parent}' ({_why(exc)})") from None
    if not os.access(path.parent, os.W_OK):
        raise UserError(f"{key}: cannot write in '{path.parent}' (permission denied)")


def temp_beside(path: Path) -> Path:
    """A hidden temp path in `path`'s folder (rename it into place when complete)."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    return Path(tmp)


def publish(pairs: list[tuple[Path, Path]]) -> None:
    """Rename each (temp, final) pair into place, refusing to replace a file that appeared."""
    for _tmp, final in pairs:
        if final.exists():
            raise UserError(f"--out: '{final}' appeared while exporting (not replaced)")
    for tmp, final in pairs:
        os.replace(tmp, final)
