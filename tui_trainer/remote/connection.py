"""One connection to a run's control socket: its input, its bounded output queue, its limits.

Pure bookkeeping for `RunServer` (which owns the sockets and the selector): how much may wait for
a client, when progress lines coalesce, when a reader that fell behind gets a `resync`.
"""

from __future__ import annotations

import contextlib
import socket
import time
from collections import deque
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from tui_trainer.remote.endpoint import same_user as same_user  # re-exported
from tui_trainer.remote.protocol import MAX_REQUEST
from tui_trainer.runlog.layout import PROGRESS
from tui_trainer.runlog.records import STEP

MAX_CLIENTS = 64
"""Connections served at once. When all are taken, a new one takes the place of an evictable
one (`evictable`); when none is, it is answered "too many clients" (`busy_reply`) and closed."""
MAX_SUBSCRIBERS = 48
"""Event streams (watchers) served at once: the rest of MAX_CLIENTS stays for requests."""
GRACE_SECONDS = 1.0
"""A connection is never evicted within this long of connecting or of its last request, so a
`ctl` that has just connected gets its answer however many connections follow it."""
STUCK_SECONDS = 5.0
"""A subscriber that could not be sent a byte for this long may be evicted to make room."""
COALESCE_BYTES = 16 << 10
"""Once this much is waiting for a client, its pending progress lines are replaced, not added."""
MAX_QUEUED = 1 << 20
"""Bytes waiting for one client beyond which it is sent a `resync` instead."""

_PROGRESS = tuple(b'{"event": "%s"' % kind.encode() for kind in sorted(PROGRESS))
"""How the progress lines (`step`, `validating`) begin: the ones a slow client may miss."""

IDLE_SECONDS = 10.0
"""A connection that has not subscribed and has not completed a request for this long is
closed (sending a byte at a time does not keep it open)."""
MAX_REQUESTS_PER_SECOND = 50
FLUSH_SECONDS = 1.0
"""After the run ends, how long the server keeps sending what subscribers have not read."""
SEND_BYTES = 64 << 10
"""Queued lines are joined into one `send` of up to this much (one system call, not one a line)."""
TURN_BYTES = 256 << 10
"""At most this much is sent to one client per turn of the server loop, so that one fast reader
with a long backlog cannot hold up the others (a fresh `status` is answered in the next turn)."""
TAIL_BYTES = 1 << 20
"""At most this much of metrics.jsonl is read and fanned out per turn of the server loop."""


class Client:
    """One connection: its unread input, its queued output, whether it subscribed."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.inbuf = bytearray()
        self.out: deque[tuple[str, bytes]] = deque()  # (kind, line); progress ("step") coalesces
        self.queued = 0
        self.sending = memoryview(b"")
        self.subscribed = False
        self.resync = False
        self.seen = time.monotonic()  # connected, or its last complete request
        self.stalled_since: float | None = None  # its first send that found no room, if any
        self.window, self.requests = 0.0, 0
        self.close_after = False
        self.events = 1  # what the selector watches for (selectors.EVENT_READ at first)

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

    def next_request(self) -> bytes | str | None:
        """The next complete request line in `inbuf` (taken out of it); None when there is none
        yet; a reason (str) when the client must be answered so and dropped (`close_after`)."""
        nl = self.inbuf.find(b"\n")
        if nl < 0:
            if len(self.inbuf) <= MAX_REQUEST:
                return None
            self.close_after = True
            return f"request longer than {MAX_REQUEST} bytes"
        line, self.inbuf = bytes(self.inbuf[:nl]), self.inbuf[nl + 1 :]
        if len(line) > MAX_REQUEST:
            self.close_after = True
            return f"request longer than {MAX_REQUEST} bytes"
        now = time.monotonic()
        if now - self.window >= 1.0:
            self.window, self.requests = now, 0
        self.requests += 1
        if self.requests > MAX_REQUESTS_PER_SECOND:
            self.close_after = True
            return "too many requests"
        if line.strip():
            self.seen = now  # a complete request: not idle
        return line

    @property
    def wants_write(self) -> bool:
        return bool(self.sending) or bool(self.out) or self.resync

    def next_chunk(self, resync_line: Callable[[], bytes]) -> bytes:
        """The queued lines (or the `resync` notice) joined, up to SEND_BYTES; b"" when none."""
        parts: list[bytes] = []
        size = 0
        while self.out and (not parts or size + len(self.out[0][1]) <= SEND_BYTES):
            line = self.out.popleft()[1]
            self.queued -= len(line)
            parts.append(line)
            size += len(line)
        if not parts and self.resync:
            self.resync = False
            parts.append(resync_line())
        return b"".join(parts)


def evictable(clients: Iterable[Client], now: float) -> Client | None:
    """The connection to close so that a new one can be served, or None when none may go.

    First the one idle longest without a stream (its requests answered, none for
    GRACE_SECONDS), then the subscriber stalled longest (nothing could be sent to it for
    STUCK_SECONDS: it stopped reading). A watcher that reads is never evicted.
    """
    idle = [c for c in clients if not c.subscribed and now - c.seen > GRACE_SECONDS]
    if idle:
        return min(idle, key=lambda c: c.seen)
    stuck = [
        c
        for c in clients
        if c.subscribed and c.stalled_since is not None and now - c.stalled_since > STUCK_SECONDS
    ]
    return min(stuck, key=lambda c: c.stalled_since or now) if stuck else None


def busy_reply(pid: int) -> dict[str, Any]:
    """The answer to a connection the run cannot serve now (`runs` shows the run as busy)."""
    return {
        "ok": False,
        "busy": True,
        "state": "busy",
        "pid": pid,
        "error": f"too many clients ({MAX_CLIENTS} connections to this run are open); "
        "try again in a moment",
    }


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
        self.more = False  # the last `read_new` stopped at its limit

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

    def read_new(self, limit: int = -1) -> list[tuple[int, str, bytes]]:
        """(line number, kind, line without newline) for each complete new JSON line.

        At most `limit` new bytes are read (all when negative); `more` says whether the read
        stopped at the limit, i.e. more may be waiting.
        """
        self.more = False
        if not self._open():
            return []
        try:
            chunk = self._fh.read(limit)
        except OSError:
            return []
        self.more = limit >= 0 and len(chunk) == limit
        data = self._partial + chunk
        *lines, self._partial = data.split(b"\n")
        out = []
        for line in lines:
            self.lines += 1
            if len(line) > 2 and line.startswith(b"{") and line.endswith(b"}"):
                kind = STEP if line.startswith(_PROGRESS) else "kept"
                out.append((self.lines, kind, line))
        return out

    def close(self) -> None:
        """Close the file."""
        if self._fh is not None:
            self._fh.close()
            self._fh = None
