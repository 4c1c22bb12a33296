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


def count_lines(path: Path, size: int) -> int:
    """Newlines in the first `size` bytes of `path` (the lines written before the server)."""
    count = 0
    with contextlib.suppress(OSError), open(path, "rb") as fh:
        left = size
        while left > 0:
            chunk = fh.read(min(left, 1 << 20))
            if not chunk:
                break
            count += chunk.count(b"\n")
            left -= len(chunk)
    return count
