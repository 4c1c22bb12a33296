"""`RunServer`: a run's control socket, one more event sink plus a feeder of its `Control`.

The training thread only appends each event to an inbox and, at most once until the server
thread has looked, writes one byte to a wake-up pipe: it never waits for the server, and no
client can make it wait. The server thread owns every socket (non-blocking, one selector),
streams the very lines the file writer (an earlier sink) appended to metrics.jsonl, numbered
as in the file, and keeps for each subscriber a bounded queue: progress may be coalesced for a
slow reader, the other events are kept, and a reader that falls further behind is told to
re-read metrics.jsonl (`resync`). Every request is validated; a client that sends too much,
too fast, or never reads is answered or dropped.

Containment: whatever a request does, its handling cannot end the server. An unexpected error
while answering one request is a one-line error reply to that client; one elsewhere in that
client's handling drops that client; one in a turn of the loop is skipped. Each is reported
once on stderr. The server ends only when the run does.

Capacity: at most MAX_CLIENTS connections, MAX_SUBSCRIBERS of them streams. A connection that
completes no request for IDLE_SECONDS is closed; when all places are taken, a new connection
takes the place of the longest-idle one or of a watcher that stopped reading, else it is told
"too many clients" (see `connection.evictable`), so a `ctl` gets through or gets that answer.

Security: the socket lives in an owner-only directory (see `endpoint`), has mode 0600, and on
Linux each connection's peer credentials must be this user's.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import selectors
import socket
import sys
import threading
import time
from collections import deque
from pathlib import Path
from typing import Any

from tui_trainer.remote import endpoint
from tui_trainer.remote.connection import (
    FLUSH_SECONDS,
    IDLE_SECONDS,
    MAX_CLIENTS,
    MAX_QUEUED,
    MAX_SUBSCRIBERS,
    TAIL_BYTES,
    TURN_BYTES,
    Client,
    JsonlTail,
    busy_reply,
    evictable,
)
from tui_trainer.remote.protocol import (
    MAX_REQUEST,
    PROTOCOL,
    BadRequest,
    encode,
    error_reply,
    parse_request,
)
from tui_trainer.remote.runstate import RunState
from tui_trainer.runlog.control import Control
from tui_trainer.runlog.events import Event, RunFinished, RunStarted


class RunServer:
    """Serve the run's events and feed `control` on a local socket (see `remote.protocol`).

    A sink: add it to a run's sinks. It starts with the run's `RunStarted` (which names the run
    directory), and shuts down shortly after `RunFinished` or at interpreter exit. A server
    that cannot start (no usable runtime directory) leaves the run alone: `error` says why; the
    run's session emits it as a warning (the run's log, the console, the run screen), and it
    goes to stderr too when stderr is not where the console's lines already go.
    """

    def __init__(self, control: Control) -> None:
        self.control = control
        self.error: str | None = None
        self.socket_path: Path | None = None
        self.run_dir: Path | None = None
        self._inbox: deque[Event] = deque()
        self._tail = JsonlTail()
        self._woken = False
        self._stopping = False
        self._thread: threading.Thread | None = None
        self._run = RunState(control)
        self._clients: dict[int, Client] = {}
        self._ended = False
        self.faults = 0  # unexpected errors contained so far (the first is reported)

    # -- the sink (training thread) ---------------------------------------------------------------
    def __call__(self, event: Event) -> None:
        """Queue `event` for the server thread (starting the server at `RunStarted`)."""
        if self._thread is None:
            if not isinstance(event, RunStarted) or not event.run_dir or self.error:
                return
            self._start(Path(event.run_dir))
            if self._thread is None:
                return
        self._inbox.append(event)
        if not self._woken:
            self._woken = True
            with contextlib.suppress(OSError):  # full: the thread is awake already
                os.write(self._wake_w, b"\0")

    def _start(self, run_dir: Path) -> None:
        try:
            self._listener, socket_path = self._bind(run_dir)
        except Exception as exc:  # never let the control socket break a run
            self.error = (
                f"control socket unavailable, so watch and ctl cannot reach this run: {exc}"
            )
            if not _same_file(1, 2):  # else the console's warning line is already there
                print(f"tui-trainer: warning: {self.error}", file=sys.stderr, flush=True)
            return
        self.run_dir, self.socket_path = run_dir, socket_path
        self._tail.path = run_dir / "metrics.jsonl"
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        os.set_blocking(self._wake_w, False)
        self._thread = threading.Thread(
            target=self._serve, args=(run_dir, socket_path), name="tui-trainer-server", daemon=True
        )
        self._thread.start()
        atexit.register(self.close)

    def _bind(self, run_dir: Path) -> tuple[socket.socket, Path]:
        path = endpoint.socket_path(run_dir)
        # a pointer left by an ended run here goes first: while it names a dead process a
        # watcher may clean what it names, and the socket bound below is not listening yet
        left = endpoint.read_pointer(run_dir)
        if left is not None and left.pid != os.getpid() and not endpoint.pid_alive(left.pid):
            endpoint.remove_pointer(run_dir, left.pid)
        if os.path.lexists(path):
            if endpoint.answers(path):
                raise OSError(f"{path} is served by another process")
            endpoint.remove_socket(path)  # stale: a previous run here died
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.bind(str(path))
            os.chmod(path, 0o600)
            sock.listen(128)
            sock.setblocking(False)
            endpoint.write_pointer(run_dir, path)
        except OSError:
            sock.close()
            endpoint.remove_socket(path)
            raise
        return sock, path

    def settle(self) -> None:
        """The run has finished: flush the last events to watchers and remove the socket and its
        pointer now, while the run still holds its directory (the run's session calls this
        before releasing the directory's lock, so no file of this run changes after that). The
        thread's own flush deadline bounds the wait; the join allows a busy machine to get there."""
        self.close(timeout=FLUSH_SECONDS + 10.0)

    def close(self, timeout: float = FLUSH_SECONDS + 0.5) -> None:
        """Stop serving (at the latest after `timeout` s) and remove the socket and pointer."""
        self._stopping = True
        thread = self._thread
        if thread is None:
            return
        with contextlib.suppress(OSError):
            os.write(self._wake_w, b"\0")
        if thread is not threading.current_thread():
            thread.join(timeout)

    # -- the server thread -----------------------------------------------------------------------
    def _serve(self, run_dir: Path, socket_path: Path) -> None:
        sel = selectors.DefaultSelector()
        try:
            self._tail.skip_existing()  # what is there already is history, read from the file
            sel.register(self._listener, selectors.EVENT_READ, "listen")
            sel.register(self._wake_r, selectors.EVENT_READ, "wake")
            self._loop(sel)
        finally:
            for client in list(self._clients.values()):
                self._drop(sel, client)
            sel.close()
            self._tail.close()
            self._listener.close()
            os.close(self._wake_r)
            endpoint.remove_pointer(run_dir, os.getpid())
            endpoint.remove_socket(socket_path)

    def _loop(self, sel: selectors.BaseSelector) -> None:
        """Turn until the run has ended and what waits for watchers is sent (or the flush
        deadline passed); an unexpected error in a turn never ends it while the run lives."""
        self._deadline: float | None = None
        while True:
            try:
                if self._turn(sel):
                    return
            except Exception as exc:
                self._fault(exc)
                if self._stopping or self._ended:
                    return
                time.sleep(0.05)  # an error that repeats every turn must not spin the CPU

    def _turn(self, sel: selectors.BaseSelector) -> bool:
        """One turn: accept, read and answer, stream; True when the server is done."""
        deadline = self._deadline
        timeout = 0.0 if self._tail.more else 0.5 if deadline is None else 0.05
        for key, mask in sel.select(timeout):
            if key.data == "listen":
                self._accept(sel)
            elif key.data == "wake":
                self._woken = False
                with contextlib.suppress(OSError):
                    os.read(self._wake_r, 4096)
            else:
                client = self._clients.get(key.fd)
                if client is not None and mask & selectors.EVENT_READ:
                    self._contained(sel, client, self._read)
                client = self._clients.get(key.fd)
                if client is not None and mask & selectors.EVENT_WRITE:
                    self._contained(sel, client, self._write)
        self._ended |= self._take_inbox()
        now = time.monotonic()
        for client in list(self._clients.values()):
            if not client.subscribed and now - client.seen > IDLE_SECONDS:
                self._drop(sel, client)
            elif client.wants_write:
                self._contained(sel, client, self._write)
        if (self._ended or self._stopping) and deadline is None:
            self._deadline = now + (FLUSH_SECONDS if not self._stopping or self._ended else 0.0)
            deadline = self._deadline
        return deadline is not None and (
            now >= deadline
            or not (self._tail.more or any(c.wants_write for c in self._clients.values()))
        )

    def _contained(self, sel: selectors.BaseSelector, client: Client, work: Any) -> None:
        """`work(sel, client)`; an unexpected error drops that client, never the server."""
        try:
            work(sel, client)
        except Exception as exc:
            self._fault(exc)
            if self._clients.get(client.sock.fileno()) is client:
                self._drop(sel, client)

    def _fault(self, exc: BaseException) -> None:
        """Count an unexpected error; report the first one on stderr (the run goes on)."""
        self.faults += 1
        if self.faults == 1:
            print(
                f"tui-trainer: control socket: unexpected {type(exc).__name__}: {exc} "
                "(contained: the run and its socket go on)"[:300],
                file=sys.stderr,
                flush=True,
            )

    def _take_inbox(self) -> bool:
        """Note the new events' state, then stream the lines the file writer added for them."""
        finished = False
        while self._inbox:
            event = self._inbox.popleft()
            self._run.track(event)
            finished |= isinstance(event, RunFinished)
        for seq, kind, record in self._tail.read_new(TAIL_BYTES):  # the rest: next turn
            line = b'{"seq":%d,' % seq + record[1:] + b"\n"
            for client in self._clients.values():
                if client.subscribed:
                    client.push(kind, line)
        return finished

    def _accept(self, sel: selectors.BaseSelector) -> None:
        for _ in range(MAX_CLIENTS):
            try:
                conn, _addr = self._listener.accept()
            except OSError:  # none waiting (BlockingIOError), or it went away
                return
            if not endpoint.same_user(conn):
                conn.close()
                continue
            conn.setblocking(False)
            if len(self._clients) >= MAX_CLIENTS:
                victim = evictable(self._clients.values(), time.monotonic())
                if victim is None:  # every place is in use: say so, never leave it unanswered
                    with contextlib.suppress(OSError):
                        conn.send(encode(busy_reply(os.getpid())))
                    conn.close()
                    continue
                self._drop(sel, victim)
            client = Client(conn)
            self._clients[conn.fileno()] = client
            sel.register(conn, selectors.EVENT_READ, "client")

    def _drop(self, sel: selectors.BaseSelector, client: Client) -> None:
        fd = client.sock.fileno()
        self._clients.pop(fd, None)
        with contextlib.suppress(KeyError, ValueError, OSError):
            sel.unregister(client.sock)
        client.sock.close()

    def _read(self, sel: selectors.BaseSelector, client: Client) -> None:
        """Read and answer what `client` sent; its replies go out at once, not after this turn's
        stream work (a fresh `status` never waits behind other clients' backlogs)."""
        self._read_requests(sel, client)
        if self._clients.get(client.sock.fileno()) is client and client.wants_write:
            self._write(sel, client)

    def _read_requests(self, sel: selectors.BaseSelector, client: Client) -> None:
        try:
            data = client.sock.recv(MAX_REQUEST * 2)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:
            self._drop(sel, client)
            return
        client.inbuf += data
        while not client.close_after:
            line = client.next_request()
            if line is None:
                return
            if isinstance(line, str):  # too long, too many: said, then the connection closes
                self._reply(client, error_reply(line))
                return
            if line.strip():
                self._handle(client, line)

    def _handle(self, client: Client, line: bytes) -> None:
        """Answer one request line; whatever goes wrong, the client gets a one-line reply."""
        try:
            self._answer(client, line)
        except Exception as exc:
            self._fault(exc)
            self._reply(client, error_reply(f"internal error: {type(exc).__name__}"))

    def _answer(self, client: Client, line: bytes) -> None:
        try:
            req = parse_request(line)
        except BadRequest as exc:
            self._reply(client, error_reply(str(exc)))
            return
        cmd, rid = req["cmd"], req.get("id")
        reply: dict[str, Any]
        if cmd == "status":
            reply = self.status()
        elif cmd == "subscribe" and not client.subscribed and self._streams() >= MAX_SUBSCRIBERS:
            reply = error_reply(f"too many watchers ({MAX_SUBSCRIBERS} streams are open)")
        elif cmd == "subscribe":
            reply = {**self.status(), "subscribed": True}
            client.subscribed = True
        elif self._run.ended:
            reply = error_reply(f"the run has ended ({self._run.fields['state']})")
        elif cmd == "steer":
            outcome, detail = self.control.submit_steer(req["change"])
            reply = (
                error_reply(detail)
                if outcome == "refused"
                else {"ok": True, "cmd": cmd, "state": outcome, "detail": detail}
            )
        else:
            reply = {"ok": True, "cmd": cmd, **self._run.apply(cmd, bool(req.get("now")))}
        if rid is not None:
            reply["id"] = rid
        self._reply(client, reply)

    def _streams(self) -> int:
        return sum(c.subscribed for c in self._clients.values())

    def status(self) -> dict[str, Any]:
        """The run's state as the `status` reply gives it."""
        return {
            "ok": True,
            "protocol": PROTOCOL,
            "pid": os.getpid(),
            "run_dir": str(self.run_dir),
            "seq": self._tail.lines,
            **self._run.status(),
        }

    def _reply(self, client: Client, reply: dict[str, Any]) -> None:
        line = encode(reply)
        client.out.append(("reply", line))
        client.queued += len(line)
        if client.queued > MAX_QUEUED:  # replies it never reads
            client.close_after, client.out = True, deque()

    def _write(self, sel: selectors.BaseSelector, client: Client) -> None:
        """Send what waits for `client`: joined lines, one `send` per chunk, at most TURN_BYTES
        this turn (the rest when the selector says it is writable again)."""
        budget = TURN_BYTES
        while budget > 0:
            if not client.sending:
                chunk = client.next_chunk(self._resync_line)
                if not chunk:
                    break
                client.sending = memoryview(chunk)
            try:
                sent = client.sock.send(client.sending)
            except (BlockingIOError, InterruptedError):
                if client.stalled_since is None:
                    client.stalled_since = time.monotonic()
                break
            except OSError:
                self._drop(sel, client)
                return
            client.stalled_since = None
            client.sending = client.sending[sent:]
            budget -= sent
        if client.close_after and not client.wants_write:
            self._drop(sel, client)
            return
        events = selectors.EVENT_READ | (selectors.EVENT_WRITE if client.wants_write else 0)
        if events != client.events:  # one system call less per turn when nothing changed
            client.events = events
            with contextlib.suppress(KeyError, ValueError):
                sel.modify(client.sock, events, "client")

    def _resync_line(self) -> bytes:
        return encode({"resync": True, "seq": self._tail.lines})


def _same_file(fd_a: int, fd_b: int) -> bool:
    """True when two file descriptors are one open file (a terminal, or `> log 2>&1`)."""
    try:
        return os.path.sameopenfile(fd_a, fd_b)
    except OSError:
        return False
