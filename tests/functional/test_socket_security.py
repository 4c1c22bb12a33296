"""The control socket against a hostile run folder and hostile local clients (issue 22, Security).

A run folder may come from anyone: its `.endpoint` never makes us delete or connect to what it
names. No request ends the server; no crowd of clients locks `ctl` out; a run that cannot have
its socket says so; `ctl` never reports success for a request it did not deliver.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import threading
import time
from collections import deque
from dataclasses import asdict
from pathlib import Path

import pytest
from test_remote_server import FakeRun, raw, read_line, wait_for

from tui_trainer import cli
from tui_trainer.errors import UserError
from tui_trainer.remote import client as client_module
from tui_trainer.remote import connection, endpoint, server
from tui_trainer.remote.client import Stream, request
from tui_trainer.remote.commands import cmd_ctl
from tui_trainer.remote.connection import MAX_CLIENTS, Client, evictable
from tui_trainer.remote.runs import inspect, list_runs
from tui_trainer.remote.runstate import RunState
from tui_trainer.runlog import Status
from tui_trainer.sinks.files import write_config


@pytest.fixture(autouse=True)
def _own_socket_dir(private_runtime: Path) -> None:
    """Each test gets its own socket directory (tests/conftest.py)."""


@pytest.fixture
def run(tmp_path: Path):
    fake = FakeRun(tmp_path)
    fake.start()
    wait_for(lambda: (fake.run_dir / endpoint.POINTER).exists())
    yield fake
    fake.server.close()


def dead_run_dir(root: Path) -> Path:
    """A run folder with no live run behind it (as `runs` finds it)."""
    run_dir = root / "runs" / "p" / "20261201-000000"
    run_dir.mkdir(parents=True)
    write_config(run_dir, {"epochs": 2}, "p")
    (run_dir / "metrics.jsonl").write_text("")
    return run_dir


def plant(run_dir: Path, target: str, pid: int = 999999) -> None:
    (run_dir / endpoint.POINTER).write_text(json.dumps({"socket": target, "pid": pid}))


def bound_socket(path: Path) -> None:
    s = socket.socket(socket.AF_UNIX)
    s.bind(str(path))  # a socket file nobody listens on
    s.close()


# -- 1. a crafted .endpoint ----------------------------------------------------------------------


def test_a_crafted_endpoint_never_deletes_what_it_names(tmp_path: Path) -> None:
    run_dir = dead_run_dir(tmp_path)
    victim = tmp_path / "precious.txt"
    victim.write_text("keep me")
    plant(run_dir, str(victim))
    assert [i.status for i in list_runs(tmp_path / "runs")] == ["died"]
    with pytest.raises(UserError):
        cmd_ctl(str(run_dir), "status")
    assert victim.read_text() == "keep me"
    # a socket of ours, but not this run folder's own: never removed either
    shared = tmp_path / "open"
    shared.mkdir(mode=0o755)
    other_socket = shared / endpoint.socket_name(run_dir)  # even with the right name
    bound_socket(other_socket)
    plant(run_dir, str(other_socket))
    with pytest.raises(endpoint.NotLive, match="ignored"):
        endpoint.connect(run_dir)
    assert other_socket.exists()
    # the stale pointer itself goes (its process is gone and nothing answers)
    assert not (run_dir / endpoint.POINTER).exists()


def test_a_stale_endpoint_removes_only_our_own_socket(tmp_path: Path) -> None:
    run_dir = dead_run_dir(tmp_path)
    own = endpoint.socket_path(run_dir)
    bound_socket(own)
    plant(run_dir, str(own))
    with pytest.raises(endpoint.NotLive, match="process is gone"):
        endpoint.connect(run_dir)
    assert not own.exists() and not (run_dir / endpoint.POINTER).exists()
    # a regular file at our own path (not a socket) is left alone
    own.write_text("not a socket")
    plant(run_dir, str(own))
    with pytest.raises(endpoint.NotLive):
        endpoint.connect(run_dir)
    assert own.read_text() == "not a socket"


@pytest.mark.parametrize("before", ["fresh", "resumed"])
def test_a_watcher_polling_a_starting_run_never_unlinks_its_socket(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, before: str
) -> None:
    """Between bind and listen a run's socket refuses connections and no pointer (or only the
    ended run's, on a resume) names it: a watcher polling then (`watch`, the queue view) must not
    take that for a stale endpoint and unlink the socket under the run, which would then serve
    nobody for its whole life (a CI failure found it: the queue view's watch test timed out)."""
    fake = FakeRun(tmp_path)
    if before == "resumed":  # the killed run's pointer is still there
        plant(fake.run_dir, str(endpoint.socket_path(fake.run_dir)), pid=2**22 + 7)
    polled: list[str] = []
    real_chmod = os.chmod

    def chmod_then_poll(path, mode, *args, **kwargs):  # the server's step between bind and listen
        real_chmod(path, mode, *args, **kwargs)
        if Path(path) == endpoint.socket_path(fake.run_dir) and not polled:
            with pytest.raises(endpoint.NotLive) as caught:
                endpoint.connect(fake.run_dir, timeout=0.5)
            polled.append(str(caught.value))
            assert os.path.lexists(path), "a watcher unlinked the starting run's socket"

    monkeypatch.setattr(server.os, "chmod", chmod_then_poll)
    fake.start()
    monkeypatch.undo()
    try:
        assert polled and "no live run" in polled[0]
        wait_for(lambda: (fake.run_dir / endpoint.POINTER).exists())
        assert request(fake.run_dir, "status", timeout=2.0)["ok"] is True
    finally:
        fake.server.close()


def test_a_pointer_never_leads_to_another_runs_socket(run: FakeRun, tmp_path: Path) -> None:
    """A copied or crafted folder naming a live run's socket (ours, in our private directory)
    does not reach that run: `ctl COPY stop` must not stop the original."""
    copy = dead_run_dir(tmp_path / "copy")
    plant(copy, endpoint.read_pointer(run.run_dir).socket, pid=os.getpid())
    with pytest.raises(UserError, match="ignored"):
        cmd_ctl(str(copy), "stop")
    assert run.control.stop_mode.value == "none"
    assert inspect(copy).status == "died"


def test_a_pointer_from_our_other_session_is_followed(run: FakeRun, tmp_path: Path) -> None:
    """The same user's run started under another XDG_RUNTIME_DIR: its pointer names a socket
    with this folder's name in a private directory of ours, and is followed."""
    elsewhere = Path(f"/tmp/tt-other-{os.getpid()}")
    elsewhere.mkdir(mode=0o700)
    try:
        moved = elsewhere / endpoint.socket_name(run.run_dir)
        os.rename(endpoint.read_pointer(run.run_dir).socket, moved)
        plant(run.run_dir, str(moved), pid=os.getpid())
        assert request(run.run_dir, "status")["ok"]
        os.chmod(elsewhere, 0o755)  # no longer private: not followed
        with pytest.raises(endpoint.NotLive, match="ignored"):
            request(run.run_dir, "status")
    finally:
        moved.unlink(missing_ok=True)
        elsewhere.rmdir()


@pytest.mark.parametrize("kind", ["fifo", "dev-zero", "deep", "huge"])
def test_a_hostile_pointer_file_neither_hangs_nor_crashes(tmp_path: Path, kind: str) -> None:
    run_dir = dead_run_dir(tmp_path)
    pointer = run_dir / endpoint.POINTER
    if kind == "fifo":
        os.mkfifo(pointer)
    elif kind == "dev-zero":
        pointer.symlink_to("/dev/zero")
    elif kind == "deep":
        pointer.write_text("[" * 2000 + "]" * 2000)
    else:
        pointer.write_text(json.dumps({"socket": "x" * 10**6, "pid": 1}))
    seen: list = []
    reader = threading.Thread(
        target=lambda: seen.append(
            (endpoint.read_pointer(run_dir), [i.status for i in list_runs(tmp_path / "runs")])
        ),
        daemon=True,
    )
    reader.start()
    reader.join(20)
    assert seen == [(None, ["died"])]


def test_the_pointer_is_never_written_through_a_planted_link(run: FakeRun, tmp_path: Path) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    for name in (f".{endpoint.POINTER}.tmp", f"{endpoint.POINTER}.tmp"):
        (run.run_dir / name).symlink_to(victim)
    endpoint.write_pointer(run.run_dir, Path("/nowhere.sock"))
    assert victim.read_text() == "keep me"
    assert endpoint.read_pointer(run.run_dir).socket == "/nowhere.sock"


# -- 2. no request ends the server ---------------------------------------------------------------


def test_a_deeply_nested_request_is_refused_and_the_server_lives(run: FakeRun) -> None:
    sock = raw(run)
    sock.sendall(b"[" * 2000 + b"]" * 2000 + b"\n")
    reply = read_line(sock)
    assert reply["ok"] is False and "nested" in reply["error"]
    sock.sendall(b'{"cmd": "status"}\n')
    assert read_line(sock)["ok"] is True  # same connection, still served
    assert run.server._thread.is_alive()
    assert (run.run_dir / endpoint.POINTER).exists()
    assert inspect(run.run_dir).status == "running"


def test_an_unexpected_error_answering_a_request_is_contained(
    run: FakeRun, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    def broken(self):
        raise RuntimeError("boom")

    monkeypatch.setattr(RunState, "status", broken)
    for _ in range(3):
        reply = request(run.run_dir, "status")
        assert reply == {"ok": False, "error": "internal error: RuntimeError"}
    monkeypatch.undo()
    assert request(run.run_dir, "status")["ok"]
    assert run.server._thread.is_alive() and run.server.faults == 3
    err = capfd.readouterr().err
    assert err.count("unexpected RuntimeError: boom") == 1  # reported once


def test_an_error_in_a_turn_or_a_client_never_ends_the_server(
    run: FakeRun, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_take, real_write = server.RunServer._take_inbox, server.RunServer._write
    calls = {"take": 0}

    def take_fails_twice(self):
        calls["take"] += 1
        if calls["take"] <= 2:
            raise OSError("a turn went wrong")
        return real_take(self)

    def write_fails(self, sel, client):
        raise MemoryError("one client's output")

    monkeypatch.setattr(server.RunServer, "_take_inbox", take_fails_twice)
    run.steps(3)
    wait_for(lambda: calls["take"] > 2)
    monkeypatch.setattr(server.RunServer, "_write", write_fails)
    with pytest.raises(endpoint.NotLive):  # its reply could not go out: that client is dropped
        request(run.run_dir, "status", timeout=5)
    monkeypatch.setattr(server.RunServer, "_write", real_write)
    assert request(run.run_dir, "status")["ok"]
    assert run.server._thread.is_alive()
    run.finish()  # and it still ends with the run
    assert not run.server._thread.is_alive()
    assert not (run.run_dir / endpoint.POINTER).exists()


# -- 3. a crowd of clients never locks control out -----------------------------------------------


def test_idle_clients_make_room_for_ctl(run: FakeRun, capsys) -> None:
    idle = [raw(run) for _ in range(MAX_CLIENTS)]
    wait_for(lambda: len(run.server._clients) == MAX_CLIENTS)
    time.sleep(connection.GRACE_SECONDS + 0.2)
    assert cmd_ctl(str(run.run_dir), "pause") == 0
    assert run.control.paused
    assert inspect(run.run_dir).status in ("pausing", "paused")
    assert len(run.server._clients) <= MAX_CLIENTS
    for s in idle:
        s.close()


def test_never_reading_subscribers_cannot_take_every_place(run: FakeRun) -> None:
    crowd = []
    for _ in range(MAX_CLIENTS):
        s = raw(run)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.sendall(b'{"cmd": "subscribe"}\n')  # and never reads
        crowd.append(s)
    wait_for(lambda: len(run.server._clients) == MAX_CLIENTS)

    def streams() -> int:
        return sum(c.subscribed for c in run.server._clients.values())

    wait_for(lambda: streams() == connection.MAX_SUBSCRIBERS)
    time.sleep(connection.GRACE_SECONDS + 0.2)
    assert streams() == connection.MAX_SUBSCRIBERS  # the rest were told "too many watchers"
    assert request(run.run_dir, "status")["ok"]
    for s in crowd:
        s.close()


def test_a_full_server_says_too_many_clients_and_runs_says_busy(
    run: FakeRun, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    monkeypatch.setattr(connection, "GRACE_SECONDS", 3600.0)  # every connection is fresh
    crowd = [raw(run) for _ in range(MAX_CLIENTS)]
    wait_for(lambda: len(run.server._clients) == MAX_CLIENTS)
    reply = request(run.run_dir, "status")
    assert reply["ok"] is False and reply["busy"] and "too many clients" in reply["error"]
    with pytest.raises(UserError, match="too many clients"):
        cmd_ctl(str(run.run_dir), "pause")
    assert not run.control.paused
    with pytest.raises(endpoint.NotLive, match="too many clients"):
        Stream(run.run_dir)  # watch says why it cannot stream
    info = inspect(run.run_dir)
    assert (info.status, info.live, info.pid) == (Status.BUSY, True, os.getpid())
    assert info.status.live and json.loads(json.dumps(asdict(info)))["status"] == "busy"
    for s in crowd:
        s.close()


def test_a_connection_without_a_full_request_is_closed(
    run: FakeRun, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(server, "IDLE_SECONDS", 0.5)
    slow = raw(run)
    t0 = time.monotonic()
    dropped = None
    for _ in range(40):  # one byte at a time never completes a request
        try:
            slow.send(b" ")
        except OSError:
            dropped = time.monotonic() - t0
            break
        time.sleep(0.1)
    assert dropped is not None and dropped < 3.0


def test_eviction_order() -> None:
    """The longest-idle request connection goes first; then the subscriber stalled longest; a
    fresh connection or a reading subscriber never."""
    now = 1000.0
    pairs = [socket.socketpair() for _ in range(4)]
    fresh, idle_old, reading, stalled = (Client(a) for a, _b in pairs)
    fresh.seen = now - 0.1
    idle_old.seen = now - 50
    reading.subscribed, reading.seen = True, now - 500
    stalled.subscribed, stalled.seen = True, now - 500
    stalled.stalled_since = now - connection.STUCK_SECONDS - 1
    assert evictable([fresh, idle_old, reading, stalled], now) is idle_old
    assert evictable([fresh, reading, stalled], now) is stalled
    assert evictable([fresh, reading], now) is None
    for a, b in pairs:
        a.close()
        b.close()


# -- 4. no socket: said, not silent --------------------------------------------------------------


@pytest.mark.skipif(os.getuid() != 0, reason="needs root to make a folder another user owns")
def test_a_taken_runtime_folder_is_reported_on_stderr_and_in_the_log(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    import tempfile

    xdg = tmp_path / "xdg"
    (xdg / "tui-trainer").mkdir(parents=True)
    os.chown(xdg / "tui-trainer", 65534, 65534)  # another user made it first
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    (tmp / f"tui-trainer-{os.getuid()}").write_text("")  # and this one is a file
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(xdg))
    monkeypatch.setattr(tempfile, "tempdir", str(tmp))
    out = tmp_path / "runs"
    code = cli.main(["run", "quickstart", "epochs=1", "data.batch_size=64", "device=cpu",
                     "--out", str(out)])  # fmt: skip
    # stdout and stderr are separate files here: the warning is on each (same file: once)
    assert code == 0
    out_text, err = capfd.readouterr()
    said = [line for line in err.splitlines() if "control socket unavailable" in line]
    assert len(said) == 1, err
    assert sum("control socket unavailable" in line for line in out_text.splitlines()) == 1
    assert "another user (uid 65534)" in said[0] and "not a directory" in said[0]
    run_dir = next(out.glob("*/*"))
    logged = [
        json.loads(line)
        for line in (run_dir / "metrics.jsonl").read_text().splitlines()
        if "control socket unavailable" in line
    ]
    assert len(logged) == 1 and logged[0]["level"] == "warning"


def test_an_unusable_runtime_folder_is_named_with_the_reason(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import tempfile

    monkeypatch.delenv("XDG_RUNTIME_DIR")
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    (tmp_path / f"tui-trainer-{os.getuid()}").write_text("")
    with pytest.raises(UserError, match="not a directory"):
        endpoint.runtime_dir()
    fake = FakeRun(tmp_path)
    fake.start()  # the server cannot start: the run goes on, and the reason is kept
    assert fake.server.error and "not a directory" in fake.server.error


# -- 5. ctl never reports success for what it did not deliver ------------------------------------


def test_ctl_exits_2_when_the_socket_breaks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """EPIPE on the control socket (the run closed it under load) is not a closed stdout."""

    def closed_at_once(run_dir, timeout=5.0, **kw):
        ours, theirs = socket.socketpair()
        theirs.close()
        return ours

    monkeypatch.setattr(client_module, "connect", closed_at_once)
    run_dir = dead_run_dir(tmp_path)
    for command in ("pause", "lr=0.01", "status"):
        assert cli.main(["ctl", str(run_dir), command]) == 2
        err = capsys.readouterr().err
        assert "tui-trainer: error:" in err and "closed the connection" in err


def test_ctl_under_a_connection_flood_delivers_or_fails(run: FakeRun) -> None:
    """Clients connecting as fast as they can: every `ctl` either took effect (exit 0) or said
    why not (exit 2); none claims success without delivering."""
    stop = threading.Event()

    def flood() -> None:
        held: deque[socket.socket] = deque()
        while not stop.is_set():
            with contextlib.suppress(endpoint.NotLive):
                held.append(endpoint.connect(run.run_dir, timeout=1))
            while len(held) > 80:
                held.popleft().close()
        for s in held:
            s.close()

    threads = [threading.Thread(target=flood, daemon=True) for _ in range(2)]
    for t in threads:
        t.start()
    try:
        for _ in range(5):
            run.control.resume()
            try:
                code = cmd_ctl(str(run.run_dir), "pause")
            except UserError as exc:  # exit 2, with the reason (too many clients, ...)
                assert str(run.run_dir) in str(exc), exc
            else:
                assert code == 0 and run.control.paused
    finally:
        stop.set()
        for t in threads:
            t.join(5)
