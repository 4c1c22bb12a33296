"""Atomic outputs: a result folder or file appears complete or not at all, nothing is replaced.

- A path that cannot be used (exists, read-only, not a folder) is bad input: `UserError`, exit 2.
- A write that fails on the way (disk full, quota, I/O error) is `OutputFailed`, exit 1: one
  line naming the place, how much space is free (and needed, when known); every temp file and
  folder made so far is removed.
- Two processes writing the same `--out` at once: one wins, the others get the same one-line
  refusal as if the folder had been there first. Default (timestamped) folders are renumbered.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tui_trainer.atomic import describe_os_error, is_no_space
from tui_trainer.errors import UserError

TAKEN = (errno.ENOTEMPTY, errno.EEXIST, errno.ENOTDIR, errno.EISDIR)


class OutputFailed(Exception):
    """Results could not be written (disk full, I/O error); nothing was left behind. Exit 1."""

    exit_code = 1


def size_text(nbytes: int) -> str:
    """`512 B`, `3.4 KB`, `12.0 MB`, `1.5 GB`."""
    value = float(nbytes)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GB"  # pragma: no cover


def _free(folder: Path) -> int | None:
    try:
        return shutil.disk_usage(folder).free
    except OSError:
        return None


def write_failure(key: str, where: Path, exc: OSError, needed: int | None = None) -> OutputFailed:
    """The one-line OutputFailed for a failed write in `where` (free/needed space when full)."""
    why = describe_os_error(exc)
    if is_no_space(exc):
        free = _free(where)
        parts = [f"{size_text(free)} free" if free is not None else ""]
        parts.append(f"{size_text(needed)} needed" if needed else "")
        space = ", ".join(p for p in parts if p)
        why = f"{why}: {space}" if space else why
    return OutputFailed(f"{key}: cannot write in '{where}' ({why}); nothing was written")


def timestamped(parent: Path) -> Path:
    """A fresh `parent/<YYYYmmdd-HHMMSS>` path (suffixed -2, -3 ... if taken); not created."""
    base = parent / time.strftime("%Y%m%d-%H%M%S")
    return _next_free(base)


def _next_free(base: Path) -> Path:
    path, n = base, 1
    while path.exists():
        n += 1
        path = base.with_name(f"{base.name}-{n}")
    return path


def _taken(final: Path, key: str) -> UserError:
    return UserError(f"{key}: '{final}' already exists and is not empty (choose a new folder)")


@dataclass
class Staged:
    """A temp folder being filled (`tmp`) and where it goes (`final`, set when published)."""

    tmp: Path
    final: Path


@contextlib.contextmanager
def staged_dir(final: Path, key: str, *, renumber: bool = False) -> Iterator[Staged]:
    """Yield a hidden temp folder beside `final`; on success rename it to `final`.

    `final` must not exist, or be an empty folder; when another process takes it first, the
    result is the same refusal (or, with `renumber`, the next free `final-2`, `-3` ...). On
    any error the temp folder is removed, so a reader never sees a half-written result; a
    failed write is `OutputFailed`. `key` names the option in error messages.
    """
    base = final  # renumbering always counts from the name asked for: final-2, -3, ...
    if final.exists() and (not final.is_dir() or any(final.iterdir())):
        if not renumber:
            raise _taken(final, key)
        final = _next_free(base)
    parent = final.parent
    created = [p for p in (parent, *parent.parents) if not p.exists()]
    try:
        parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.", suffix=".tmp", dir=parent))
    except OSError as exc:
        remove_empty(created)
        if is_no_space(exc):
            raise write_failure(key, parent, exc) from None
        raise UserError(f"{key}: cannot write in '{parent}' ({describe_os_error(exc)})") from None
    staged = Staged(tmp, final)
    try:
        try:
            yield staged
        except OSError as exc:
            raise write_failure(key, parent, exc) from None
        staged.final = _rename_into(tmp, final, key, base if renumber else None)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        remove_empty(created)
        raise


def _rename_into(tmp: Path, final: Path, key: str, renumber_from: Path | None) -> Path:
    """Rename `tmp` to `final` (an empty folder there is replaced atomically, POSIX rename);
    when another process published there first: refused, or the next free number after
    `renumber_from` (never a number on a number: `-3-2`)."""
    while True:
        try:
            os.replace(tmp, final)
            return final
        except OSError as exc:
            if exc.errno not in TAKEN:
                raise write_failure(key, final.parent, exc) from None
            if renumber_from is None:
                raise _taken(final, key) from None
            final = _next_free(renumber_from)


def remove_empty(folders: list[Path]) -> None:
    """Remove folders this module created (innermost first) if they are still empty."""
    for folder in folders:
        with contextlib.suppress(OSError):
            folder.rmdir()


def writable_file(path: Path, key: str) -> list[Path]:
    """Refuse an output file that exists, or whose folder cannot be created or written.

    Returns the folders it created (innermost first), for `remove_empty` on a later failure.
    """
    if path.exists():
        raise UserError(f"{key}: '{path}' already exists (choose another name)")
    created = [p for p in (path.parent, *path.parent.parents) if not p.exists()]
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        if is_no_space(exc):
            raise write_failure(key, path.parent, exc) from None
        why = describe_os_error(exc)
        raise UserError(f"{key}: cannot create folder '{path.parent}' ({why})") from None
    if not os.access(path.parent, os.W_OK):
        remove_empty(created)
        raise UserError(f"{key}: cannot write in '{path.parent}' (permission denied)")
    return created


def write_files(files: list[tuple[Path, bytes]], key: str) -> None:
    """Write each (path, bytes) beside its place and rename all into place, or none.

    Space is checked first; a temp file is fsynced before its rename; any failure removes
    every temp file (a full disk is `OutputFailed` saying how much is free and needed). A
    file that appeared meanwhile is not replaced (UserError).
    """
    if not files:
        return
    folder = files[0][0].parent
    needed = sum(len(data) for _path, data in files)
    free = _free(folder)
    if free is not None and free < needed:
        full = OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        raise write_failure(key, folder, full, needed)
    temps: list[tuple[Path, Path]] = []
    published: list[Path] = []
    try:
        for path, data in files:
            fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
            temps.append((Path(name), path))
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
        for tmp, final in temps:
            _link_new(tmp, final, key)
            published.append(final)
    except OSError as exc:
        _unlink(published)
        raise write_failure(key, folder, exc, needed) from None
    except BaseException:
        _unlink(published)
        raise
    finally:
        _unlink([tmp for tmp, _final in temps])


def _link_new(tmp: Path, final: Path, key: str) -> None:
    """Put `tmp` at `final` without replacing a file that appeared there (UserError)."""
    try:
        os.link(tmp, final)  # fails when `final` exists: never replaces
    except FileExistsError:
        raise UserError(f"{key}: '{final}' appeared while exporting (not replaced)") from None
    except OSError as exc:
        if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EXDEV, errno.EMLINK):
            raise
        if final.exists():  # a file system without hard links: check, then rename
            raise UserError(f"{key}: '{final}' appeared while exporting (not replaced)") from None
        os.replace(tmp, final)


def _unlink(paths: list[Path]) -> None:
    for path in paths:
        with contextlib.suppress(OSError):
            path.unlink()
