"""The control socket in-process: owner-only, validated, never slowed by hostile clients."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import stat
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tui_trainer.remote import endpoint
from tui_trainer.remote.client import Stream, request
from tui_trainer.remote.connection import (
    MAX_QUEUED,
    SEND_BYTES,
    TURN_BYTES,
    Client,
    same_user,
)
from tui_trainer.remote.runs import inspect
from tui_trainer.remote.server import RunServer
from tui_trainer.runlog.control import Control, StopMode
from tui_trainer.runlog.events import (
    CheckpointSaved,
    EpochEnd,
    EventBus,
    LogMessage,
    Paused,
    RunFinished,
    RunStarted,
    StepProgress,
)
from tui_trainer.runlog.reader import read_records
from tui_trainer.sinks.files import RunDirWriter, write_config
from tui_trainer.tui.sources import RemoteRun

EPOCHS = 3


@pytest.fixture(autouse=True)
def _own_socket_dir(private_runtime: Path) -> None:
    """Each test gets its own socket directory (tests/conftest.py)."""


class FakeRun:
    """A run directory written by the real writer and served by the real server."""

    def __init__(self, root: Path) -> None:
        self.run_dir = root / "runs" / "quickstart" / "20261201-000000"
        (self.run_dir / "checkpoints").mkdir(parents=True, exist_ok=True)
        write_config(self.run_dir, {"epochs": EPOCHS, "data": {"batch_size": 8}}, "quickstart")
        self.control = Control()
        self.server = RunServer(self.control)
        self.bus = EventBus([RunDirWriter(self.run_dir, "quickstart"), self.server])
        self.step = 0

    def start(self) -> None:
        self.bus.emit(
            RunStarted(
                str(self.run_dir),
                "quickstart",
                {},
                "cpu",
                "fp32",
                EPOCHS,
                0,
                10,
                5,
                5,
                "classification",
                ["a", "b"],
            )
        )

    def steps(self, n: int, epoch: int = 1) -> None:
        for _ in range(n):
            self.step += 1
            self.bus.emit(
                StepProgress(
                    epoch,
                    EPOCHS,
                    self.step % 10,
                    10,
                    self.step,
                    1.0 / self.step,
                    0.1,
                    100.0,
                    self.step * 0.01,
                )
            )

    def epoch(self, epoch: int) -> None:
        metrics = {
            "epoch": epoch,
            "train_loss": 1.0 / epoch,
            "val_loss": 1.0,
            "lr": 0.1,
            "val_accuracy": 0.5 + epoch / 10,
            "epoch_seconds": 0.1,
        }
        self.bus.emit(
            EpochEnd(
                epoch, EPOCHS, metrics, 0.1, True, "val_accuracy", metrics["val_accuracy"], epoch
            )
        )
        self.bus.emit(
            CheckpointSaved(str(self.run_dir / "checkpoints/last.pt"), "epoch", epoch, self.step)
        )

    def finish(self) -> None:
        summary = {
            "status": "completed",
            "epochs_completed": EPOCHS,
            "best": {"metric": "val_accuracy", "value": 0.8, "epoch": EPOCHS},
        }
        self.bus.emit(RunFinished("completed", summary, "report"))
        assert self.server._thread is not None
        self.server._thread.join(5)


def wait_for(predicate, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


@pytest.fixture
def run(tmp_path: Path) -> Iterator[FakeRun]:
    fake = FakeRun(tmp_path)
    fake.start()
    wait_for(lambda: (fake.run_dir / endpoint.POINTER).exists())
    yield fake
    fake.server.close()  # no server thread of an earlier test lingers into the next one


def raw(run: FakeRun) -> socket.socket:
    sock = endpoint.connect(run.run_dir)
    sock.settimeout(20)  # generous: a loaded CI machine may not schedule the server at once
    return sock


def read_line(sock: socket.socket) -> dict:
    buf = b""
    while not buf.endswith(b"\n"):
        chunk = sock.recv(1)
        assert chunk, "closed"
        buf += chunk
    return json.loads(buf)


def test_socket_is_owner_only(run: FakeRun) -> None:
    path = Path(endpoint.read_pointer(run.run_dir).socket)
    assert len(str(path)) <= endpoint.MAX_SOCKET_PATH
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    folder = path.parent
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert folder.stat().st_uid == os.getuid() == path.stat().st_uid
    a, b = socket.socketpair(socket.AF_UNIX)
    assert same_user(a)
    real = os.getuid
    try:
        os.getuid = lambda: real() + 4242  # another user at the other end
        assert not same_user(a)
    finally:
        os.getuid = real
        a.close()
        b.close()


@pytest.mark.skipif(os.getuid() != 0, reason="needs root to act as another user")
def test_another_user_cannot_connect(run: FakeRun) -> None:
    path = endpoint.read_pointer(run.run_dir).socket
    pid = os.fork()
    if pid == 0:
        code = 0
        try:
            os.setuid(65534)
            s = socket.socket(socket.AF_UNIX)
            s.connect(path)
        except PermissionError:
            code = 7
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 7


def test_status_control_and_stream_match_metrics_jsonl(run: FakeRun) -> None:
    status = request(run.run_dir, "status")
    assert status["ok"] and status["pid"] == os.getpid() and status["epochs"] == EPOCHS
    stream = Stream(run.run_dir)
    assert stream.status["seq"] == 1  # the started line
    got: list[dict] = []
    done = threading.Event()

    def reader() -> None:
        for msg in stream.messages(done.is_set):
            got.append(msg)
            if msg.get("event") == "finished":
                return

    thread = threading.Thread(target=reader)
    thread.start()
    assert request(run.run_dir, "pause", id=7) == {
        "ok": True,
        "cmd": "pause",
        "state": "pausing",
        "id": 7,
    }
    assert run.control.paused
    run.bus.emit(Paused(1, 3))
    wait_for(lambda: request(run.run_dir, "status")["state"] == "paused")
    assert request(run.run_dir, "resume")["ok"] and not run.control.paused
    assert request(run.run_dir, "checkpoint")["ok"] and run.control.take_checkpoint_request()
    assert request(run.run_dir, "stop")["when"] == "epoch"
    assert run.control.stop_mode is StopMode.EPOCH
    assert request(run.run_dir, "stop", now=True)["when"] == "step"
    assert run.control.stop_mode is StopMode.STEP
    run.steps(5)
    for e in range(1, EPOCHS + 1):
        run.epoch(e)
    run.finish()
    thread.join(10)
    file = read_records(run.run_dir)
    assert got == file[1:]  # the same records, each with its metrics.jsonl line number
    assert [r["event"] for r in got][-2:] == ["checkpoint", "finished"]
    after = request  # the run ended: the endpoint is gone, and says so
    with pytest.raises(endpoint.NotLive):
        after(run.run_dir, "status")
    assert not (run.run_dir / endpoint.POINTER).exists()


@pytest.mark.parametrize(
    "line, error",
    [
        (b"\xff\xfe garbage", "not a JSON object"),
        (b"[1, 2]", "not a JSON object"),
        (b'{"cmd": "rm -rf"}', "cmd: expected one of"),
        (b'{"cmd": "pause", "now": true}', "now: unknown key"),
        (b'{"cmd": "stop", "now": "yes"}', "now: expected true or false"),
        (b'{"cmd": "status", "id": [1]}', "id: expected"),
    ],
)
def test_bad_requests_get_an_error_and_the_connection_survives(run, line, error) -> None:
    sock = raw(run)
    sock.sendall(line + b"\n")
    reply = read_line(sock)
    assert reply["ok"] is False and error in reply["error"]
    sock.sendall(b'{"cmd": "status"}\n')
    assert read_line(sock)["ok"] is True
    sock.close()
    assert not run.control.paused and run.control.stop_mode is StopMode.NONE


def test_random_bytes_a_10mb_line_and_floods_leave_the_server_healthy(run: FakeRun) -> None:
    rng = __import__("random").Random(0)
    for _ in range(5):  # random bytes, newlines included
        sock = raw(run)
        sock.sendall(bytes(rng.randrange(256) for _ in range(3000)))
        sock.close()
    huge = raw(run)

    def send_huge() -> None:
        with contextlib.suppress(OSError):  # dropped by the server: expected
            huge.sendall(b"x" * (10 << 20))

    sender = threading.Thread(target=send_huge)
    sender.start()
    reply = read_line(huge)
    assert "longer than" in reply["error"]
    sender.join(20)
    assert not sender.is_alive()
    flood = raw(run)
    flood.settimeout(5)
    flood.sendall(b'{"cmd": "status"}\n' * 500)  # too many at once: some answers, then dropped
    data = b""
    try:
        while chunk := flood.recv(65536):
            data += chunk
    except (ConnectionResetError, TimeoutError):
        pass  # closed with requests still unread (or, on a slow machine, not yet)
    # At most 50 answers a second: a flood read across a one-second boundary gets two windows.
    assert data.count(b'"ok":true') <= 100
    assert request(run.run_dir, "status")["ok"]
    assert not run.control.paused


def test_idle_connections_and_a_client_that_never_reads(run: FakeRun) -> None:
    idle = [raw(run) for _ in range(50)]
    stuck = raw(run)  # subscribes, then never reads a byte
    stuck.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    stuck.sendall(b'{"cmd": "subscribe"}\n')
    watcher = RemoteRun(run.run_dir)
    events: list = []
    thread = threading.Thread(
        target=lambda: events.append(watcher.run(events.append, lambda: False))
    )
    thread.start()
    wait_for(lambda: any(isinstance(e, LogMessage) and "watching" in e.message for e in events))
    t0 = time.perf_counter()
    for e in range(1, EPOCHS + 1):
        run.steps(4000, epoch=e)  # coalesced for a client that does not keep up
        for i in range(1500):  # more kept events than a stuck client may queue
            run.bus.emit(LogMessage("info", f"note {i} " + "x" * 300))
        run.epoch(e)
    emit_seconds = time.perf_counter() - t0
    assert max(c.queued for c in run.server._clients.values()) <= MAX_QUEUED
    # still answering while flooded (the timeout allows for a loaded machine's scheduling; what
    # the server does per turn is bounded, see the next test)
    assert request(run.run_dir, "status", timeout=20)["ok"]
    # the server fans metrics.jsonl out over several turns: once it has, the stuck client (the
    # only one that did not keep up) is marked to re-read it, before it reads a byte
    wait_for(lambda: any(c.resync for c in run.server._clients.values()), timeout=60)
    # the stuck client, reading at last, is told to re-read metrics.jsonl
    stuck.settimeout(5)
    lines = stuck.makefile("rb")
    assert any(b'"resync":true' in lines.readline() for _ in range(20000))
    run.finish()
    thread.join(20)
    epochs = [e.epoch for e in events if isinstance(e, EpochEnd)]
    assert epochs == [1, 2, 3]  # nothing kept was lost, in order
    assert events[-1] is None and isinstance(events[-2], RunFinished)
    for s in idle:
        s.close()
    assert emit_seconds < 60  # sanity only: the benchmark measures the overhead


class CountingSocket:
    """A socket that counts its `send` calls (each one a system call, and a GIL hand-off)."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock, self.sends = sock, 0

    def send(self, data) -> int:
        self.sends += 1
        return self.sock.send(data)

    def __getattr__(self, name: str):
        return getattr(self.sock, name)


def test_one_turn_sends_a_bounded_batch_and_a_reply_goes_out_at_once() -> None:
    """A subscriber with a long backlog and a fast reader gets at most TURN_BYTES per turn, in
    few `send` calls; a request read in that turn is answered in the same turn, before the
    backlog is through (so no client's backlog can hold up a fresh `status`)."""
    import selectors

    server = RunServer(Control())
    sel = selectors.DefaultSelector()
    a, b = socket.socketpair(socket.AF_UNIX)
    a.setblocking(False)
    big = 4 << 20  # room for everything: the reader never makes the server wait
    for sock, opt in ((a, socket.SO_SNDBUF), (b, socket.SO_RCVBUF)):
        sock.setsockopt(socket.SOL_SOCKET, opt, big)
    counted = CountingSocket(a)
    sub = Client(counted)  # type: ignore[arg-type]
    sub.subscribed = True
    sel.register(a, selectors.EVENT_READ, "client")
    server._clients[a.fileno()] = sub
    line = b'{"seq":1,"event":"log","message":"' + b"x" * 300 + b'"}\n'
    for _ in range((MAX_QUEUED - 4096) // len(line)):
        sub.push("kept", line)
    backlog = sub.queued
    server._write(sel, sub)
    sent = backlog - sub.queued - len(sub.sending)
    assert TURN_BYTES <= sent < TURN_BYTES + SEND_BYTES
    assert counted.sends <= TURN_BYTES // SEND_BYTES + 1  # joined lines, not one send a line
    assert sub.wants_write and sel.get_key(a).events & selectors.EVENT_WRITE  # the rest: later
    b.sendall(b'{"cmd": "status"}\n')
    server._read(sel, sub)  # its reply is queued behind its own stream, and writing starts now
    assert sub.queued < backlog - sent  # this turn's write happened in `_read`
    c, d = socket.socketpair(socket.AF_UNIX)
    c.setblocking(False)
    fresh = Client(c)
    sel.register(c, selectors.EVENT_READ, "client")
    server._clients[c.fileno()] = fresh
    d.sendall(b'{"cmd": "status"}\n')
    server._read(sel, fresh)
    d.settimeout(5)
    assert json.loads(d.recv(65536))["ok"] is True  # answered in the turn that read it
    assert sub.queued > 0  # while the other client's backlog is still there
    for sock in (a, b, c, d):
        sock.close()
    sel.close()


def test_stale_endpoint_is_recognised_and_cleaned(tmp_path: Path) -> None:
    run_dir = tmp_path / "runs" / "p" / "r"
    run_dir.mkdir(parents=True)
    path = endpoint.socket_path(run_dir)
    dead = socket.socket(socket.AF_UNIX)
    dead.bind(str(path))  # a socket file nobody listens on (its process was killed)
    dead.close()
    (run_dir / endpoint.POINTER).write_text(json.dumps({"socket": str(path), "pid": 2**22 + 7}))
    with pytest.raises(endpoint.NotLive, match="process is gone"):
        endpoint.connect(run_dir)
    assert not path.exists() and not (run_dir / endpoint.POINTER).exists()


def test_runs_status_died_completed_and_live(tmp_path: Path) -> None:
    fake = FakeRun(tmp_path)
    fake.start()
    wait_for(lambda: (fake.run_dir / endpoint.POINTER).exists())
    fake.steps(3)
    fake.epoch(1)
    live = inspect(fake.run_dir)
    assert (live.status, live.live, live.epoch, live.epochs) == ("running", True, 1, EPOCHS)
    assert live.best_metric == "val_accuracy"
    fake.control.pause()
    fake.bus.emit(Paused(2, 1))
    wait_for(lambda: inspect(fake.run_dir).status == "paused")
    fake.finish()
    assert inspect(fake.run_dir).status == "completed"
    (fake.run_dir / "summary.json").unlink()  # as if killed before writing it
    died = inspect(fake.run_dir)
    assert (died.status, died.live) == ("died", False)


def test_a_resumed_run_is_watched_as_one_run(tmp_path: Path) -> None:
    first = FakeRun(tmp_path)
    first.start()
    first.steps(3)
    first.epoch(1)
    first.bus.emit(RunFinished("interrupted", {"status": "interrupted"}, ""))
    first.server._thread.join(5)
    second = FakeRun(tmp_path)  # `run --resume`: same directory, metrics.jsonl appended
    second.start()
    wait_for(lambda: (second.run_dir / endpoint.POINTER).exists())
    events: list = []
    thread = threading.Thread(
        target=lambda: events.append(RemoteRun(second.run_dir).run(events.append, lambda: False))
    )
    thread.start()
    wait_for(lambda: any(isinstance(e, LogMessage) and "watching" in e.message for e in events))
    assert not any(isinstance(e, RunFinished) for e in events)  # the first session's end
    second.epoch(2)
    second.finish()
    thread.join(10)
    assert [e.epoch for e in events if isinstance(e, EpochEnd)] == [1, 2]
    assert [e.status for e in events if isinstance(e, RunFinished)] == ["completed"]


def test_ctl_says_unchanged_for_a_steer_to_the_value_in_force(run: FakeRun, capsys) -> None:
    """A change to the value already in force is answered `unchanged` over the socket (exit 0,
    nothing queued); a real change is queued and answered `ok`."""
    from tui_trainer.cli import main
    from tui_trainer.runlog.control import Unchanged

    run.control.steer_check = lambda change: (
        Unchanged("the LR is 0.1 already") if change.text == "lr=0.1" else None
    )
    assert main(["ctl", str(run.run_dir), "lr=0.1"]) == 0
    assert "lr=0.1: unchanged (the LR is 0.1 already)" in capsys.readouterr().out
    assert run.control.pending_steers() == []
    assert main(["ctl", str(run.run_dir), "lr=0.05"]) == 0
    assert "lr=0.05: ok" in capsys.readouterr().out
    assert run.control.pending_steers() == ["lr=0.05"]
