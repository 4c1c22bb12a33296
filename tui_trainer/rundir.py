"""Run directories: created atomically, written by one process at a time.

A run directory is `out/<preset>/<YYYYmmdd-HHMMSS>` created with a plain `mkdir` (never
`exist_ok`): two runs started in the same second get `...-HHMMSS` and `...-HHMMSS-2`, never one
shared directory.

A run directory is private: created 0700 (whatever the umask), its files 0600 (see
`tui_trainer.atomic`). The runs root and the preset folders above it keep the user's umask.

The process that writes a run directory holds an exclusive `flock` on `<run_dir>/.lock`, which
also records who holds it (pid, host, command, start time). The OS drops the lock when the
process dies, so a crash never leaves a directory locked. A second writer (a resume of a live run,
two resumes at once) gets `RunDirBusy`, a `UserError` naming the live process: exit 2, nothing
written. Readers (`runs`, `watch`, `compare`) call `holder(run_dir)` to tell live runs from dead
ones without taking the lock.

Only rank 0 of a torchrun job owns (creates and locks) the directory.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shlex
import socket
import sys
import time
import weakref
from dataclasses import dataclass
from pathlib import Path

from tui_trainer.atomic import PRIVATE_DIR, PRIVATE_FILE
from tui_trainer.config.names import safe_component
from tui_trainer.errors import UserError

LOCK_NAME = ".lock"


class RunDirBusy(UserError):
    """Another live process writes this run directory (exit 2, nothing written)."""


@dataclass(frozen=True)
class LockInfo:
    """Who holds a run directory's lock."""

    pid: int
    host: str
    command: str
    started: float  # time.time() when the lock was taken

    def describe(self) -> str:
        """`pid 123 on host (tui-trainer run quickstart), since 09:41:02`."""
        since = time.strftime("%H:%M:%S", time.localtime(self.started)) if self.started else "?"
        return f"pid {self.pid} on {self.host} ({self.command}), since {since}"


def create_run_dir(out: str | Path, preset: str, *, stamp: str | None = None) -> Path:
    """Create and return a fresh `out/<preset>/<timestamp>` directory, never an existing one.

    The leaf is made with one `mkdir` (atomic, fails if it exists), private (0700); on a
    collision the next suffix (-2, -3 ...) is tried. An `--out` that cannot hold run
    directories (a file, read-only, no space) is a `UserError`.
    """
    parent = Path(out) / safe_component(preset, "preset")  # never '..', '/' or hidden
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(
            f"--out: cannot create run directories under '{out}': {_why(exc)}"
        ) from None
    base = stamp or time.strftime("%Y%m%d-%H%M%S")
    for n in range(1, 10_000):
        path = parent / (base if n == 1 else f"{base}-{n}")
        try:
            path.mkdir(mode=PRIVATE_DIR)
        except FileExistsError:
            continue
        except OSError as exc:
            raise UserError(f"--out: cannot create '{path}': {_why(exc)}") from None
        return path
    raise UserError(f"--out: too many run directories named '{parent / base}-N'")


def claim_exact(path: str | Path) -> tuple[RunDirLock, bool]:
    """`run --run-dir PATH` starting a new run: create PATH (its parents with the user's umask,
    PATH itself private, 0700) or take an existing empty folder (made 0700), and lock it.

    Returns the lock and whether PATH was created here. A folder that is not empty once locked
    (another run got there first) is refused; `RunDirBusy` when a live process holds it.
    """
    path = Path(path)
    made = False
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.mkdir(mode=PRIVATE_DIR)
        made = True
    except FileExistsError:
        if not path.is_dir():
            raise UserError(
                f"'{path}' is not a folder (expected a run directory or an empty folder)",
                key="--run-dir",
            ) from None
    except OSError as exc:
        raise UserError(f"cannot create '{path}': {_why(exc)}", key="--run-dir") from None
    lock = RunDirLock.acquire(path)
    if not made:
        try:
            others = [name for name in os.listdir(path) if name != LOCK_NAME]
            if not others:
                os.chmod(path, PRIVATE_DIR)
        except OSError as exc:
            lock.release()
            raise UserError(f"cannot use '{path}': {_why(exc)}", key="--run-dir") from None
        if others:
            lock.release()
            raise UserError(
                f"'{path}' is no longer empty (another run started there); give another --run-dir",
                key="--run-dir",
            )
    return lock, made


def _why(exc: OSError) -> str:
    if isinstance(exc, FileExistsError | NotADirectoryError):
        return "a file is in the way (expected a folder)"
    return exc.strerror or str(exc)


def _command_line() -> str:
    """This process's command, as a person would type it (`tui-trainer run quickstart ...`)."""
    orig = list(getattr(sys, "orig_argv", sys.argv))
    if orig[1:3] == ["-m", "tui_trainer"]:
        argv = ["tui-trainer", *orig[3:]]
    elif sys.argv and Path(sys.argv[0]).name == "tui-trainer":
        argv = ["tui-trainer", *sys.argv[1:]]
    else:
        argv = [Path(orig[0]).name if orig else "python", *orig[1:]]
    text = " ".join(shlex.join(argv).split())  # one line, whatever the arguments hold
    return text if len(text) <= 160 else text[:157] + "..."


def _read_info(fd: int) -> LockInfo | None:
    try:
        raw = os.pread(fd, 4096, 0)
        data = json.loads(raw.decode("utf-8")) if raw.strip() else None
        if not isinstance(data, dict):
            return None
        return LockInfo(
            int(data["pid"]), str(data["host"]), str(data["command"]), float(data["started"])
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None


def holder_info(run_dir: str | Path) -> LockInfo | None:
    """Who writes `run_dir` now, or None when no live process holds it (takes no lock)."""
    try:
        fd = os.open(Path(run_dir) / LOCK_NAME, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None  # no lock file: never run by this version, or not a run directory
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            # Held. The owner writes its details just after locking: give it a moment.
            for _ in range(50):
                info = _read_info(fd)
                if info is not None:
                    return info
                time.sleep(0.01)
            return LockInfo(-1, "?", "?", 0.0)
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


def busy_error(run_dir: str | Path, info: LockInfo | None) -> RunDirBusy:
    """The refusal a second writer gets while `info`'s process writes `run_dir`."""
    who = info.describe() if info and info.pid >= 0 else "another process"
    return RunDirBusy(
        f"run directory '{run_dir}' is being written by {who}; "
        "wait for it to end or stop it, or start a new run"
    )


def holder(run_dir: str | Path) -> int | None:
    """The pid of the live process writing `run_dir`, or None (-1 if held but unreadable)."""
    info = holder_info(run_dir)
    return info.pid if info is not None else None


class RunDirLock:
    """The exclusive lock on one run directory, held until `release()` or process exit."""

    def __init__(self, run_dir: Path, fd: int) -> None:
        self.run_dir = run_dir
        self._fd: int | None = fd
        _HELD.add(self)

    @classmethod
    def acquire(cls, run_dir: str | Path) -> RunDirLock:
        """Lock `run_dir` for writing; `RunDirBusy` (exit 2) when another process holds it."""
        run_dir = Path(run_dir)
        try:
            fd = os.open(run_dir / LOCK_NAME, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, PRIVATE_FILE)
        except OSError as exc:
            raise UserError(
                f"run directory '{run_dir}': cannot open its lock: {_why(exc)}"
            ) from None
        # A reader's probe holds a shared lock for an instant: retry briefly before refusing.
        for attempt in range(20):
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if attempt < 19:
                    time.sleep(0.01)
        else:
            info = None
            for _ in range(50):
                info = _read_info(fd)
                if info is not None:
                    break
                time.sleep(0.01)
            os.close(fd)
            raise busy_error(run_dir, info)
        info = LockInfo(os.getpid(), socket.gethostname(), _command_line(), time.time())
        payload = json.dumps(info.__dict__).encode("utf-8") + b"\n"
        with contextlib.suppress(OSError):  # a full disk: the lock still holds, details lost
            os.ftruncate(fd, 0)
            os.pwrite(fd, payload, 0)
        return cls(run_dir, fd)

    @property
    def held(self) -> bool:
        """Whether this object still holds its lock."""
        return self._fd is not None

    def where_now(self) -> Path | None:
        """Where the locked directory is now, followed through its open lock file (Linux
        `/proc/self/fd`): its new path after a move, None when it was deleted or that cannot
        be known (another system, the lock released)."""
        if self._fd is None:
            return None
        try:
            target = os.readlink(f"/proc/self/fd/{self._fd}")
        except OSError:
            return None
        if target.endswith(" (deleted)") or not target.startswith("/"):
            return None
        return Path(target).parent

    def release(self) -> None:
        """Drop the lock (idempotent). The lock file stays, naming the last owner."""
        fd, self._fd = self._fd, None
        _HELD.discard(self)
        if fd is None:
            return
        with contextlib.suppress(OSError):
            fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)

    def fileno(self) -> int | None:
        """The lock's file descriptor (None once released)."""
        return self._fd

    def __enter__(self) -> RunDirLock:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.release()


def dir_id(path: Path) -> tuple[int, int] | None:
    """(device, inode) of a directory, or None when it is gone: tells a recreated one apart."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino


# A forked child (a DataLoader worker) inherits the lock's open file description and would keep
# the directory locked after its parent died: children close their copy at once.
_HELD: weakref.WeakSet[RunDirLock] = weakref.WeakSet()


def _close_in_child() -> None:
    for lock in list(_HELD):
        fd = lock.fileno()
        if fd is not None:
            with contextlib.suppress(OSError):
                os.close(fd)
        lock._fd = None


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_close_in_child)
