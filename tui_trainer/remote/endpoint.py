"""Where a run's control socket lives, and how to reach it.

A Unix socket path may hold at most 107 bytes, and run directories can be deep, so the socket
never lives in the run directory. It lives in a per-user directory that only its owner can
enter (mode 0700, checked on every use): `$XDG_RUNTIME_DIR/tui-trainer/` when that is set and
ours, else `/tmp/tui-trainer-<uid>/`. Its name is a hash of the run directory's real path, so
two runs never share one and a resumed run gets its old one back. The run directory holds a
pointer, `.endpoint` (JSON: socket path and pid), so a watcher finds the socket even when its
environment differs from the run's (another XDG_RUNTIME_DIR).

An endpoint is live when its socket answers; one whose process is gone is stale and is removed
by whoever notices (`watch`, `ctl`, `runs`, or the next run in that directory).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import socket
import stat
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from tui_trainer.errors import UserError

POINTER = ".endpoint"
"""The file in a run directory that names its socket."""

MAX_SOCKET_PATH = 107


class NotLive(Exception):
    """There is no live run behind this run directory (the message says why)."""


def runtime_dir() -> Path:
    """This user's private directory for sockets (created 0700; refused if not safe)."""
    uid = os.getuid()
    xdg = os.environ.get("XDG_RUNTIME_DIR")
    candidates = []
    if xdg and os.path.isabs(xdg):
        candidates.append(Path(xdg) / "tui-trainer")
    candidates.append(Path(tempfile.gettempdir()) / f"tui-trainer-{uid}")
    for path in candidates:
        with contextlib.suppress(OSError):
            path.mkdir(mode=0o700, exist_ok=True)
        try:
            st = os.lstat(path)
        except OSError:
            continue
        if stat.S_ISDIR(st.st_mode) and st.st_uid == uid:
            if stat.S_IMODE(st.st_mode) & 0o077:
                os.chmod(path, 0o700)  # ours: make it private again
            if len(str(path)) + 22 <= MAX_SOCKET_PATH:
                return path
    raise UserError(
        f"{candidates[-1]}: cannot use it for control sockets (it must be a directory owned "
        "by you); remove it or set XDG_RUNTIME_DIR"
    )


def socket_path(run_dir: str | Path) -> Path:
    """The socket for `run_dir` (deterministic: a hash of its real path)."""
    digest = hashlib.sha256(str(Path(run_dir).resolve()).encode()).hexdigest()[:16]
    return runtime_dir() / f"{digest}.sock"


@dataclass(frozen=True)
class Endpoint:
    """What `.endpoint` in a run directory says."""

    socket: str
    pid: int


def write_pointer(run_dir: Path, sock: Path) -> None:
    """Write `run_dir/.endpoint` atomically."""
    tmp = run_dir / f".{POINTER}.tmp"
    tmp.write_text(json.dumps({"socket": str(sock), "pid": os.getpid()}) + "\n")
    os.replace(tmp, run_dir / POINTER)


def read_pointer(run_dir: Path) -> Endpoint | None:
    """The endpoint a run directory names (None when it names none or the file is damaged)."""
    try:
        data = json.loads((run_dir / POINTER).read_text())
        return Endpoint(str(data["socket"]), int(data["pid"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def pid_alive(pid: int) -> bool:
    """True when a process with this pid exists and has not ended (a zombie has ended)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    try:  # Linux: a killed process whose parent has not reaped it yet is a zombie
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state not in ("Z", "X")


def remove(run_dir: Path, sock: Path | None = None, pid: int | None = None) -> None:
    """Remove the pointer (when it still names `pid`, if given) and the socket file."""
    found = read_pointer(run_dir)
    if found is not None and (pid is None or found.pid == pid):
        with contextlib.suppress(OSError):
            (run_dir / POINTER).unlink()
        sock = sock or Path(found.socket)
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.unlink()


def connect(run_dir: str | Path, timeout: float = 5.0, *, clean: bool = True) -> socket.socket:
    """A connected socket to the run in `run_dir`; raises NotLive (and cleans a stale endpoint).

    The pointer names the socket; without one the deterministic path is tried (a run that
    could not write its pointer). A refused connection with the run's process gone is stale.
    """
    path = Path(run_dir)
    if not path.is_dir():
        raise NotLive(f"{run_dir}: not a run directory")
    pointer = read_pointer(path)
    sock_path = Path(pointer.socket) if pointer else socket_path(path)
    if not sock_path.exists():
        if pointer is not None and clean and not pid_alive(pointer.pid):
            remove(path, pid=pointer.pid)
        raise NotLive(f"{run_dir}: no live run (nothing is serving it)")
    try:
        sock = _connect(sock_path, timeout)
    except OSError as exc:
        gone = pointer is None or not pid_alive(pointer.pid)
        if clean and gone and isinstance(exc, (ConnectionRefusedError, FileNotFoundError)):
            remove(path, sock_path, pointer.pid if pointer else None)
            raise NotLive(f"{run_dir}: no live run (its process is gone)") from exc
        raise NotLive(f"{run_dir}: cannot connect to the run: {exc.strerror or exc}") from exc
    return sock


def _connect(path: Path, timeout: float) -> socket.socket:
    """Connect, retrying while the run's accept queue is full (EAGAIN) until `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(timeout)
        try:
            sock.connect(str(path))
            return sock
        except BlockingIOError:
            sock.close()
            if time.monotonic() >= deadline:
                raise
            time.sleep(0.01)
        except OSError:
            sock.close()
            raise
