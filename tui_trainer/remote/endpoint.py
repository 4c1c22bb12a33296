"""Where a run's control socket lives, and how to reach it.

A Unix socket path may hold at most 107 bytes, and run directories can be deep, so the socket
never lives in the run directory. It lives in a per-user directory that only its owner can
enter (mode 0700, checked on every use): `$XDG_RUNTIME_DIR/tui-trainer/` when that is set and
ours, else `/tmp/tui-trainer-<uid>/`. Its name is a hash of the run directory's real path, so
two runs never share one and a resumed run gets its old one back. The run directory holds a
pointer, `.endpoint` (JSON: socket path and pid), so a watcher finds the socket even when its
environment differs from the run's (another XDG_RUNTIME_DIR).

A run directory may come from anyone (copied, on a shared disk), so its pointer is a hint, never
an authority:
- a socket is only ever removed at the path this code derives for the run directory
  (`socket_path`), inside this user's runtime directory, and only when it is a socket this user
  owns (checked with `lstat`, so a link is never followed);
- the pointer's path is connected to only when it is that path, or when it has that path's
  file name (the hash of this run directory's real path: never another run's socket) and is a
  socket this user owns in a directory this user owns that nobody else may enter (mode 0700:
  e.g. the runtime directory of the same user's other login session); otherwise it is ignored
  and the derived path is tried;
- after connecting, on Linux, the peer must be this user's process (`SO_PEERCRED`);
- the pointer file is read without following links, non-blocking and bounded (a FIFO or
  `/dev/zero` named `.endpoint` neither hangs nor fills memory), and written through a fresh
  temporary file (a planted link is replaced, never written through).

An endpoint is live when its socket answers; one whose pointer names a process that is gone and
whose socket does not answer is stale: its pointer is removed by whoever notices (`watch`, `ctl`,
`runs`, or the next run in that directory), its socket only under the rules above and only by
whoever removed that pointer. A socket with no pointer is never removed by a watcher: a run that
is starting has bound its socket but not yet listened or written its pointer (a watcher polling
it then must not unlink it under the run); the next run in that directory clears a leftover.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import socket
import stat
import struct
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from tui_trainer.errors import UserError

POINTER = ".endpoint"
"""The file in a run directory that names its socket."""

MAX_SOCKET_PATH = 107
MAX_POINTER = 4096
"""Longest `.endpoint` read (ours are about 100 bytes)."""

_PEERCRED = getattr(socket, "SO_PEERCRED", None)


class NotLive(Exception):
    """There is no live run behind this run directory (the message says why)."""


def _unusable(path: Path, uid: int) -> str | None:
    """Why `path` cannot be this user's socket directory (None when it can)."""
    try:
        st = os.lstat(path)
    except OSError as exc:
        return f"cannot create it ({exc.strerror or exc})"
    if not stat.S_ISDIR(st.st_mode):
        return "it is not a directory"
    if st.st_uid != uid:
        return f"it belongs to another user (uid {st.st_uid}), not to you (uid {uid})"
    if len(str(path)) + 22 > MAX_SOCKET_PATH:
        return "its path is too long for a Unix socket"
    return None


def runtime_dir() -> Path:
    """This user's private directory for sockets (created 0700; refused if not safe)."""
    uid = os.getuid()
    xdg = os.environ.get("XDG_RUNTIME_DIR")
    candidates = []
    if xdg and os.path.isabs(xdg):
        candidates.append(Path(xdg) / "tui-trainer")
    candidates.append(Path(tempfile.gettempdir()) / f"tui-trainer-{uid}")
    refused = []
    for path in candidates:
        with contextlib.suppress(OSError):
            path.mkdir(mode=0o700, exist_ok=True)
        why = _unusable(path, uid)
        if why is None:
            if stat.S_IMODE(os.lstat(path).st_mode) & 0o077:
                os.chmod(path, 0o700)  # ours: make it private again
            return path
        refused.append(f"{path}: {why}")
    raise UserError(
        f"no private folder for control sockets ({'; '.join(refused)}): remove what is in the "
        "way, or set XDG_RUNTIME_DIR to a directory of yours"
    )


def socket_name(run_dir: str | Path) -> str:
    """The file name of `run_dir`'s socket: a hash of its real path (the same in any runtime
    directory, so a run directory's socket is recognised wherever its run put it)."""
    digest = hashlib.sha256(str(Path(run_dir).resolve()).encode()).hexdigest()[:16]
    return f"{digest}.sock"


def socket_path(run_dir: str | Path) -> Path:
    """The socket for `run_dir` in this user's runtime directory (deterministic)."""
    return runtime_dir() / socket_name(run_dir)


@dataclass(frozen=True)
class Endpoint:
    """What `.endpoint` in a run directory says (a hint: see the module's docstring)."""

    socket: str
    pid: int


def write_pointer(run_dir: Path, sock: Path) -> None:
    """Write `run_dir/.endpoint` atomically (through a new file: links are replaced)."""
    fd, tmp = tempfile.mkstemp(dir=run_dir, prefix=f"{POINTER}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(json.dumps({"socket": str(sock), "pid": os.getpid()}) + "\n")
        os.replace(tmp, run_dir / POINTER)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def read_pointer(run_dir: Path) -> Endpoint | None:
    """The endpoint a run directory names (None when it names none or the file is damaged,
    a link, or not a regular file)."""
    flags = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = os.open(run_dir / POINTER, flags)
    except OSError:
        return None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        raw = os.read(fd, MAX_POINTER + 1)
        if len(raw) > MAX_POINTER:
            return None
        data = json.loads(raw)
        path, pid = data["socket"], data["pid"]
        if not isinstance(path, str) or not isinstance(pid, int) or isinstance(pid, bool):
            return None
        return Endpoint(path, pid)
    except (OSError, ValueError, KeyError, TypeError, RecursionError):
        return None
    finally:
        os.close(fd)


def pid_alive(pid: int) -> bool:
    """True when a process with this pid exists and has not ended (a zombie has ended)."""
    if pid <= 0:
        return False  # 0 and negative pids name process groups, not a run
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    except (OverflowError, OSError):
        return False
    try:  # Linux: a killed process whose parent has not reaped it yet is a zombie
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state not in ("Z", "X")


def owned_socket(path: Path) -> bool:
    """True when `path` is a socket of this user (not a link to one) in a directory of this
    user that nobody else may enter (mode 0700 or stricter)."""
    uid = os.getuid()
    try:
        st = os.lstat(path)
        parent = os.lstat(path.parent)
    except (OSError, ValueError):
        return False
    return (
        stat.S_ISSOCK(st.st_mode)
        and st.st_uid == uid
        and stat.S_ISDIR(parent.st_mode)
        and parent.st_uid == uid
        and not stat.S_IMODE(parent.st_mode) & 0o077
    )


def _name_of(run_dir: Path) -> str | None:
    try:
        return socket_name(run_dir)
    except (OSError, RuntimeError):  # RuntimeError: a symlink loop
        return None


def own_socket_path(run_dir: Path) -> Path | None:
    """`socket_path(run_dir)`, or None when this user has no usable runtime directory."""
    try:
        return socket_path(run_dir)
    except (UserError, OSError, RuntimeError):  # RuntimeError: a symlink loop
        return None


def remove_socket(path: Path) -> None:
    """Unlink `path` when it is a socket of this user in a private directory of this user
    (`lstat`: a link is never followed). Callers pass only a path this code derived
    (`socket_path`), never one read from a run directory."""
    if owned_socket(path):
        with contextlib.suppress(OSError):
            path.unlink()


def remove_pointer(run_dir: Path, pid: int | None = None) -> bool:
    """Remove `run_dir/.endpoint` (only when it still names `pid`, if given); True when this
    call removed it."""
    found = read_pointer(run_dir)
    if found is not None and (pid is None or found.pid == pid):
        try:
            (run_dir / POINTER).unlink()
        except OSError:
            return False
        return True
    return False


def remove(run_dir: Path, pid: int) -> None:
    """A stale endpoint: remove the pointer while it still names the dead `pid` and then the
    socket this code derives for `run_dir` (never the path the pointer names). When the pointer
    has changed or gone, a new run in that directory is taking over: its socket is left alone."""
    if not remove_pointer(run_dir, pid):
        return
    own = own_socket_path(run_dir)
    if own is not None:
        remove_socket(own)


def answers(path: Path, timeout: float = 1.0) -> bool:
    """True when something accepts connections on the socket at `path`."""
    try:
        _connect(path, timeout).close()
    except OSError:
        return False
    return True


def _target(run_dir: Path, pointer: Endpoint | None) -> tuple[Path | None, str]:
    """The socket path to try, and a note when the pointer's path was not trusted."""
    own = own_socket_path(run_dir)
    if pointer is None:
        return own, ""
    named = Path(pointer.socket)
    if named == own or (
        named.is_absolute() and named.name == _name_of(run_dir) and owned_socket(named)
    ):
        return named, ""
    return own, (
        f"; its {POINTER} names {pointer.socket[:120]!r}, not this run folder's socket in a "
        "private directory of yours: ignored"
    )


def connect(run_dir: str | Path, timeout: float = 5.0, *, clean: bool = True) -> socket.socket:
    """A connected socket to the run in `run_dir`; raises NotLive (and cleans a stale endpoint).

    The pointer names the socket when it may be trusted (see the module's docstring); else the
    deterministic path is tried. A missing or refusing socket whose run's process is gone is
    stale.
    """
    path = Path(run_dir)
    if not path.is_dir():
        raise NotLive(f"{run_dir}: not a run directory")
    pointer = read_pointer(path)
    sock_path, note = _target(path, pointer)
    # stale only on evidence: a pointer naming a process that has ended (with no pointer the
    # socket may be a starting run's, bound but not yet listening)
    dead = None if pointer is None or pid_alive(pointer.pid) else pointer.pid
    if sock_path is None or not os.path.lexists(sock_path):
        if clean and dead is not None:
            remove(path, dead)
        raise NotLive(f"{run_dir}: no live run (nothing is serving it){note}")
    try:
        sock = _connect(sock_path, timeout)
    except OSError as exc:
        if isinstance(exc, (ConnectionRefusedError, FileNotFoundError)):
            if dead is not None:
                if clean:
                    remove(path, dead)
                raise NotLive(f"{run_dir}: no live run (its process is gone){note}") from exc
            if pointer is None:
                raise NotLive(f"{run_dir}: no live run (nothing is serving it){note}") from exc
        raise NotLive(f"{run_dir}: cannot connect to the run: {exc.strerror or exc}") from exc
    if not same_user(sock):
        sock.close()
        raise NotLive(f"{run_dir}: its socket is served by another user's process: not used")
    return sock


def same_user(conn: socket.socket) -> bool:
    """Linux: the peer's uid is ours (elsewhere the private directory is the guard)."""
    if _PEERCRED is None:
        return True
    try:
        raw = conn.getsockopt(socket.SOL_SOCKET, _PEERCRED, struct.calcsize("3i"))
    except OSError:
        return False
    _pid, uid, _gid = struct.unpack("3i", raw)
    return uid == os.getuid()


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
