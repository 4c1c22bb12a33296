"""Whether the runs root (`--out`, or the `out` key) can take a new run directory.

Checked before anything is built or written, so a root that is a file, lies under a file, is
read-only, immutable (`chattr +i`) or on a read-only file system is a one-line `UserError`
(exit 2) instead of a traceback from deep inside the run; a symbolic link that loops or leads
nowhere is named as such. Nothing is created by the check: it
asks the OS (`access(2)`, which also answers for immutable inodes and read-only mounts) about
the nearest folder that exists.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

from tui_trainer.errors import UserError


def out_root_problem(out: str | Path) -> str | None:
    """Why a run directory cannot be created under `out`, or None when it can (as far as known)."""
    root = Path(out)
    if str(out).strip() == "":
        return "empty path"
    probe = root
    while True:
        try:
            probe.lstat()
            break
        except (FileNotFoundError, NotADirectoryError):
            if probe.parent == probe:
                return f"'{root}' cannot be created"
            probe = probe.parent
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                return f"'{probe}' goes through a symlink loop (a link that leads back to itself)"
            return f"'{probe}' cannot be inspected: {exc.strerror or exc}"
    link = _link_problem(probe)
    if link:
        return link
    if not probe.is_dir():
        if probe == root:
            return f"'{root}' is a file, not a folder for run directories"
        return f"'{probe}' is a file, so the folder '{root}' cannot be created"
    if not os.access(probe, os.W_OK | os.X_OK):
        where = "" if probe == root else f" (nor is '{probe}', the nearest existing folder)"
        return (
            f"'{root}' is not writable{where}: read-only, immutable or on a read-only file system"
        )
    return None


def _link_problem(path: Path) -> str | None:
    """Why a symbolic link at `path` cannot be followed (a loop, a missing target), or None."""
    if not path.is_symlink():
        return None
    try:
        path.stat()
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return f"'{path}' is a symlink loop (a link that leads back to itself)"
        if exc.errno in (errno.ENOENT, errno.ENOTDIR):
            return f"'{path}' is a broken symbolic link (to '{os.readlink(path)}')"
        return f"'{path}' cannot be inspected: {exc.strerror or exc}"
    return None


def check_out_root(out: str | Path, key: str = "--out") -> None:
    """Raise UserError naming `key` when no run directory can be created under `out`."""
    problem = out_root_problem(out)
    if problem:
        raise UserError(f"{problem}; choose another folder with --out DIR", key=key)
