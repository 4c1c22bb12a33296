"""The queue database: order, state transitions, refusals, a damaged file, concurrent writers."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tui_trainer.errors import UserError
from tui_trainer.queue.store import (
    DB_ENV,
    FAILED,
    HELD,
    QUEUED,
    REMOVED,
    RUNNING,
    STATES,
    QueueStore,
    default_path,
    run_name,
)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[QueueStore]:
    with QueueStore(tmp_path / "queue.db") as s:
        yield s


def _ids(store: QueueStore, states: tuple[str, ...] | None = None) -> list[int]:
    return [j.id for j in store.jobs(states)]


def test_add_keeps_what_was_asked_and_orders_by_priority_then_arrival(store: QueueStore) -> None:
    a = store.add("quickstart", ["epochs=2", "optim.lr=0.1"], out="/r", gpus=1, per_gpu=2)
    b = store.add("quickstart", [], out="/r", priority=5)
    c = store.add("presets/mine.yaml", [], out="/r", cwd="/work", sweep="s1", trial=3)
    assert (a.state, a.overrides, a.gpus, a.per_gpu, a.attempts) == (
        QUEUED,
        ["epochs=2", "optim.lr=0.1"],
        1,
        2,
        0,
    )
    assert (c.cwd, c.name, c.sweep, c.trial) == ("/work", "mine", "s1", 3)
    assert _ids(store) == [b.id, a.id, c.id]
    assert store.get(a.id) == a
    assert [j.id for j in store.jobs(sweep="s1")] == [c.id]


def test_hold_release_remove_retry(store: QueueStore) -> None:
    job = store.add("quickstart", [], out="/r")
    assert store.hold(job.id).state == HELD
    with pytest.raises(UserError, match=f"job {job.id} is held: only a queued job can be held"):
        store.hold(job.id)
    assert store.release(job.id).state == QUEUED
    with pytest.raises(UserError, match="only a held job can be released"):
        store.release(job.id)
    with pytest.raises(UserError, match="is queued: only a done, failed, stopped or pruned"):
        store.retry(job.id)
    running = store.claim(job.id, run_dir="/r/q/1", gpu_ids=[1])
    assert running is not None and running.state == RUNNING and running.attempts == 1
    for change in (store.release, store.remove, store.hold, store.retry):
        with pytest.raises(UserError, match="is running"):
            change(job.id)
    failed = store.finish(job.id, FAILED, exit_code=1, error="boom")
    assert (failed.state, failed.exit_code, failed.error, failed.pid) == (FAILED, 1, "boom", None)
    again = store.retry(job.id)
    assert (again.state, again.run_dir, again.gpu_ids, again.error, again.attempts) == (
        QUEUED,
        None,
        [],
        None,
        0,
    )
    assert store.remove(job.id).state == REMOVED
    assert _ids(store) == []  # removed jobs are not listed ...
    assert _ids(store, STATES) == [job.id]  # ... unless asked for


def test_claim_of_a_job_held_meanwhile_is_refused_quietly(store: QueueStore) -> None:
    job = store.add("quickstart", [], out="/r")
    store.hold(job.id)
    assert store.claim(job.id, run_dir="/r/x", gpu_ids=[]) is None
    assert store.get(job.id).state == HELD


def test_unknown_job_is_one_line(store: QueueStore) -> None:
    with pytest.raises(UserError, match=r"no job 42 in the queue \(see: tui-trainer queue ls\)"):
        store.hold(42)


def test_move_to_an_index_and_before_a_job(store: QueueStore) -> None:
    a, b, c, d = (store.add("p", [str(i)], out="/r") for i in range(4))
    store.move(d.id, to_index=0)
    assert _ids(store) == [d.id, a.id, b.id, c.id]
    store.move(d.id, before_id=c.id)
    assert _ids(store) == [a.id, b.id, d.id, c.id]
    store.move(a.id, to_index=99)  # past the end: last
    assert _ids(store) == [b.id, d.id, c.id, a.id]
    # across priorities: the moved job takes its new neighbour's priority
    urgent = store.add("p", [], out="/r", priority=9)
    store.move(a.id, to_index=0)
    assert _ids(store) == [a.id, urgent.id, b.id, d.id, c.id]
    assert store.get(a.id).priority == 9
    store.claim(b.id, run_dir="/r/b", gpu_ids=[])
    with pytest.raises(UserError, match="only a queued or held job can move"):
        store.move(b.id, to_index=0)
    with pytest.raises(UserError, match="a job can only move before a queued or held one"):
        store.move(c.id, before_id=b.id)


def test_a_file_that_is_not_a_database_is_refused_untouched(tmp_path: Path) -> None:
    path = tmp_path / "queue.db"
    junk = b"this is not SQLite\n" * 300
    path.write_bytes(junk)
    with pytest.raises(UserError) as err:
        QueueStore(path)
    text = str(err.value)
    assert text.startswith(f"{path}: not a queue database")
    assert f"mv '{path}' '{path}.bad'" in text and "\n" not in text
    assert path.read_bytes() == junk
    assert sorted(p.name for p in tmp_path.iterdir()) == ["queue.db"]  # no -wal, no -shm


def test_a_truncated_database_is_refused_untouched(tmp_path: Path) -> None:
    path = tmp_path / "queue.db"
    with QueueStore(path) as store:
        for i in range(50):
            store.add("p", [f"k={i}" * 20], out="/r")
    data = path.read_bytes()
    for leftover in tmp_path.glob("queue.db-*"):
        leftover.unlink()
    damaged = data[:100] + b"\xff" * 4000 + data[4100:]  # the header page's schema is gone
    path.write_bytes(damaged)
    with pytest.raises(UserError, match="not a queue database"):
        QueueStore(path)
    assert path.read_bytes() == damaged


def test_another_programs_database_and_a_newer_one_are_refused(tmp_path: Path) -> None:
    other = tmp_path / "other.db"
    with sqlite3.connect(other) as conn:
        conn.execute("CREATE TABLE songs (title TEXT)")
    with pytest.raises(UserError, match="an SQLite database that is not the queue's"):
        QueueStore(other)
    newer = tmp_path / "newer.db"
    QueueStore(newer).close()
    with sqlite3.connect(newer) as conn:
        conn.execute("UPDATE meta SET value='99' WHERE key='schema_version'")
    with pytest.raises(UserError, match="version 99 is newer than this tui-trainer's"):
        QueueStore(newer)


def test_database_is_private_and_found_by_env_then_xdg(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(DB_ENV, raising=False)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    assert default_path() == tmp_path / "state" / "tui-trainer" / "queue.db"
    monkeypatch.setenv(DB_ENV, str(tmp_path / "mine.db"))
    assert default_path() == tmp_path / "mine.db"
    QueueStore().close()
    assert (tmp_path / "mine.db").stat().st_mode & 0o777 == 0o600


def test_run_name_matches_the_run_directory_folder() -> None:
    assert run_name("quickstart") == "quickstart"
    assert run_name("presets/cifar.yaml") == "cifar"
    assert run_name("runs/cifar/20240101-000000/config.yaml") == "cifar"


ADD = """
import sys
from tui_trainer.queue.store import QueueStore
store = QueueStore()
sys.stdin.readline()  # start together
for i in range(25):
    store.add("p", [f"{sys.argv[1]}={i}"], out="/r")
"""


def test_concurrent_adds_from_two_processes_all_land(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(DB_ENV, str(tmp_path / "queue.db"))
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", ADD, name], stdin=subprocess.PIPE, stderr=subprocess.PIPE
        )
        for name in ("a", "b")
    ]
    for proc in procs:
        assert proc.stdin is not None
        proc.stdin.write(b"go\n")
        proc.stdin.flush()
    for proc in procs:
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err.decode()
    with QueueStore() as store:
        jobs = store.jobs()
    assert len(jobs) == 50
    assert len({j.id for j in jobs}) == 50
    assert len({j.position for j in jobs}) == 50  # each got its own place
    for name in ("a", "b"):
        mine = [j.overrides[0] for j in jobs if j.overrides[0].startswith(name)]
        assert mine == [f"{name}={i}" for i in range(25)]  # in the order each process added


def test_sweeps(store: QueueStore) -> None:
    first = store.add_sweep("s1", "quickstart", '{"grid": 1}', "val/acc", "max")
    assert first.spec == {"grid": 1}
    with pytest.raises(UserError, match="a sweep named 's1' exists already"):
        store.add_sweep("s1", "quickstart", "{}", "val/acc", "max")
    with pytest.raises(UserError, match="no sweep named 'nope'"):
        store.sweep("nope")
    assert [s.name for s in store.sweeps()] == ["s1"]


def test_a_database_another_process_is_creating_is_waited_for_not_refused(tmp_path: Path) -> None:
    """Two first commands at once: one creates the database while the other opens it. The
    other waits for the lock; "database is locked" is never taken for a damaged file."""
    import threading
    import time

    path = tmp_path / "queue.db"
    creating = sqlite3.connect(path, isolation_level=None)
    creating.execute("BEGIN IMMEDIATE")  # the first process, mid-creation
    creating.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT)")
    opened: dict[str, object] = {}

    def open_store() -> None:
        try:
            opened["store"] = QueueStore(path)
        except Exception as exc:  # the refusal the test must not see
            opened["error"] = exc

    thread = threading.Thread(target=open_store)
    thread.start()
    time.sleep(0.5)
    creating.execute("ROLLBACK")
    creating.close()
    thread.join(timeout=30)
    assert "error" not in opened, opened.get("error")
    store = opened["store"]
    assert isinstance(store, QueueStore)
    assert store.add("p", [], out="/r").id == 1
    store.close()
