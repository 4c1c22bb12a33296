"""Talking to a live run: one-shot requests (`ctl`, `runs`), the event stream, remote control.

Everything here raises `endpoint.NotLive` when no run answers, with a one-line reason.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from tui_trainer.remote.endpoint import NotLive, connect
from tui_trainer.remote.protocol import MAX_REPLY, encode
from tui_trainer.runlog.control import StopMode


class _Lines:
    """Newline-delimited JSON objects from a socket, each line at most MAX_REPLY bytes."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buf = bytearray()

    def next(self) -> dict[str, Any] | None:
        """The next object; None at end of stream. Raises TimeoutError per the socket."""
        while True:
            nl = self.buf.find(b"\n")
            if nl >= 0:
                line, self.buf = bytes(self.buf[:nl]), self.buf[nl + 1 :]
                try:
                    obj = json.loads(line)
                except (ValueError, RecursionError):
                    continue
                if isinstance(obj, dict):
                    return obj
                continue
            if len(self.buf) > MAX_REPLY:
                raise NotLive("the run sent a line too long to read")
            try:
                data = self.sock.recv(65536)
            except TimeoutError:
                raise
            except OSError:
                return None
            if not data:
                return None
            self.buf += data


def _exchange(
    run_dir: str | Path, sock: socket.socket, lines: _Lines, obj: dict[str, Any], timeout: float
) -> dict[str, Any]:
    """Send `obj` and read the reply line; NotLive with the reason when that fails. A run that
    closed the connection at once (EPIPE) may still have said why ("too many clients"): that
    answer is returned; a request not delivered is never answered with success."""
    unsent: OSError | None = None
    try:
        sock.sendall(encode(obj))
    except TimeoutError as exc:
        raise NotLive(f"{run_dir}: the run did not take the request in {timeout:g} s") from exc
    except OSError as exc:  # EPIPE, ECONNRESET
        unsent = exc
    try:
        reply = lines.next()
    except TimeoutError as exc:
        raise NotLive(f"{run_dir}: the run did not answer within {timeout:g} s") from exc
    if reply is not None and (unsent is None or not reply.get("ok")):
        return reply
    why = f": {unsent.strerror or unsent}" if unsent is not None else ""
    raise NotLive(f"{run_dir}: the run closed the connection before answering{why}")


def request(run_dir: str | Path, cmd: str, timeout: float = 5.0, **fields: Any) -> dict[str, Any]:
    """Send one request to the run in `run_dir` and return its reply.

    Any failure to deliver the request or to read its answer (a refused or reset connection,
    EPIPE, a timeout) raises NotLive with the reason; no socket error escapes as such, so a
    caller never mistakes one for its own output's (a closed stdout).
    """
    sock = connect(run_dir, timeout)
    try:
        return _exchange(run_dir, sock, _Lines(sock), {"cmd": cmd, **fields}, timeout)
    finally:
        sock.close()


class Stream:
    """A subscription: `status` is the reply (its `seq`: lines already in metrics.jsonl)."""

    def __init__(self, run_dir: str | Path, timeout: float = 5.0) -> None:
        self.sock = connect(run_dir, timeout)
        self._lines = _Lines(self.sock)
        try:
            reply = _exchange(run_dir, self.sock, self._lines, {"cmd": "subscribe"}, timeout)
        except NotLive:
            self.sock.close()
            raise
        if not reply.get("ok"):
            self.sock.close()
            why = reply.get("error", "refused")
            raise NotLive(f"{run_dir}: the run cannot stream to this watcher now: {why}")
        self.status: dict[str, Any] = reply

    def messages(
        self, cancelled: Callable[[], bool], poll: float = 0.25
    ) -> Iterator[dict[str, Any]]:
        """Every message until the run closes the stream or `cancelled()` turns true."""
        self.sock.settimeout(poll)
        try:
            while not cancelled():
                try:
                    msg = self._lines.next()
                except TimeoutError:
                    continue
                if msg is None:
                    return
                yield msg
        finally:
            self.sock.close()


class RemoteControl:
    """The run screen's `Control` for a run in another process: requests over its socket.

    `paused` follows what the run reports (the source sets it from paused/resumed events) and
    what was asked; a request that fails goes to `notify` as a one-line message.
    """

    def __init__(self, run_dir: str | Path, notify: Callable[[str], None]) -> None:
        self.run_dir = run_dir
        self.notify = notify
        self.paused = False
        self.stop_mode = StopMode.NONE

    def _send(self, cmd: str, **fields: Any) -> bool:
        try:
            reply = request(self.run_dir, cmd, timeout=2.0, **fields)
        except NotLive as exc:
            self.notify(str(exc))
            return False
        if not reply.get("ok"):
            self.notify(f"{cmd}: {reply.get('error', 'refused')}")
            return False
        return True

    def pause(self) -> None:
        """Ask the run to pause at its next step boundary."""
        if self._send("pause"):
            self.paused = True

    def resume(self) -> None:
        """Ask the run to carry on."""
        if self._send("resume"):
            self.paused = False

    def request_checkpoint(self) -> None:
        """Ask the run for a checkpoint at its next step boundary."""
        self._send("checkpoint")

    def steer(self, text: str) -> str | None:
        """Send a steering change; None when the run took it, else the reason it was refused."""
        outcome, detail = self.submit_steer(text)
        return detail if outcome == "refused" else None

    def submit_steer(self, text: str) -> tuple[str, str]:
        """Like `Control.submit_steer`: ("queued", CHANGE), ("unchanged", WHY) or ("refused",
        WHY), as the run answered."""
        try:
            reply = request(self.run_dir, "steer", timeout=2.0, change=text)
        except NotLive as exc:
            return "refused", str(exc)
        if not reply.get("ok"):
            return "refused", str(reply.get("error", "refused"))
        if reply.get("state") == "unchanged":
            return "unchanged", str(reply.get("detail", "already in force"))
        return "queued", text

    def request_stop(
        self, mode: StopMode = StopMode.EPOCH, status: str = "stopped", signal: int | None = None
    ) -> None:
        """Ask the run to stop after this epoch, or at the next step (`StopMode.STEP`)."""
        if self._send("stop", now=mode is StopMode.STEP):
            self.stop_mode = mode
