"""One connection to a run's control socket: its input, its bounded output queue, its limits.

Pure bookkeeping for `RunServer` (which owns the sockets and the selector): how much may wait for
a client, when progress lines coalesce, when a reader that fell behind gets a `resync`.
"""

from __future__ import annotations

import contextlib
import os
import socket
import struct
import time
from collections import deque
from pathlib import Path
from typing import Any

from tui_trainer.sinks.records import STEP

MAX_CLIENTS = 64
"""Connections served at once; more are closed at once."""
COALESCE_BYTES = 16 << 10
"""Once this much is waiting for a client, its pending progress lines are replaced, not added."""
MAX_QUEUED = 1 << 20
"""Bytes waiting for one client beyond which it is sent a `resync` instead."""
IDLE_SECONDS = 30.0
"""A connection that has not subscribed and sent nothing for this long is closed."""
MAX_REQUESTS_PER_SECOND = 50
FLUSH_SECONDS = 1.0
"""After the run ends, how long the server keeps sending what subscribers have not read."""

_PEERCRED = getattr(socket, "SO_PEERCRED", None)


class Client:
    """One connection: its unread input, its queued output, whether it subscribed."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.inbuf = bytearray()
        self.out: deque[tuple[str, bytes]] = deque()  # (kind, line); kind "step" may coalesce
        self.queued = 0
        self.sending = memoryview(b"")
        self.subscribed = False
        self.resync = False
        self.seen = time.monotonic()
        self.window, self.requests = 0.0, 0
        self.close_after = False

    def push(self, kind: str, line: bytes) -> None:
        if self.resync:
            return
        if kind == STEP and self.queued > COALESCE_BYTES and self.out and self.out[-1][0] == STEP:
            self.queued -= len(self.out.pop()[1])
        if self.queued + len(line) > MAX_QUEUED:
            self.out.clear()
            self.queued = 0
            self.resync = True  # sent once what is in flight has gone
            return
        self.out.append((kind, line))
        self.queued += len(line)

    @property
    def wants_write(self) -> bool:
        return bool(self.sending) or bool(self.out) or self.resync


def same_user(conn: socket.socket) -> bool:
    """Linux: the peer's uid is ours (elsewhere the directory's mode is the guard)."""
    if _PEERCRED is None:
        return True
    try:
        raw = conn.getsockopt(socket.SOL_SOCKET, _PEERCRED, struct.calcsize("3i"))
    except OSError:
        return False
    _pid, uid, _gid = struct.unpack("3i", raw)
    return uid == os.getuid()


class JsonlTail:
    """Follows metrics.jsonl as the run's file writer appends to it.

    The socket streams exactly the file's lines, numbered as in the file (`seq`), so what a
    watcher reads from the file and from the socket always fit together, whatever the writer
    wrote (or failed to write).
    """

    def __init__(self, path: Path | None = None) -> None:
        self.path = path
        self.lines = 0  # complete lines read so far
        self._fh: Any = None
        self._partial = b""

    def _open(self) -> bool:
        if self._fh is None and self.path is not None:
            with contextlib.suppress(OSError):
                self._fh = open(self.path, "rb")  # noqa: SIM115 (kept open while serving)
        return self._fh is not None

    def skip_existing(self) -> None:
        """Count the lines already there (a resumed run's earlier ones included)."""
        if not self._open():
            return
        while chunk := self._fh.read(1 << 20):
            self.lines += chunk.count(b"\n")
            cut = chunk.rfind(b"\n")
            self._partial = chunk[cut + 1 :] if cut >= 0 else self._partial + chunk

    def read_new(self) -> list[tuple[int, str, bytes]]:
        """(line number, kind, line without newline) for each complete new JSON line."""
        if not self._open():
            return []
        try:
            data = self._partial + self._fh.read()
        except OSError:
            return []
        *lines, self._partial = data.split(b"\n")
        out = []
        for line in lines:
            self.lines += 1
            if len(line) > 2 and line.startswith(b"{") and line.endswith(b"}"):
                kind = STEP if line.startswith(b'{"event": "step"') else "kept"
                out.append((self.lines, kind, line))
        return out

    def close(self) -> None:
        """Close the file."""
        if self._fh is not None:
            self._fh.close()
            self._fh = None
