"""One scheduler per user and machine (per queue database), in the background.

`ensure_running` starts `python -m tui_trainer.queue.daemon --db DB` in its own session (no
controlling terminal: closing the terminal or the SSH connection does not touch it; stdin from
/dev/null, output to `DB.log`) unless a scheduler holds `DB.lock`. The daemon takes that `flock`
first and exits quietly when another one has it, so two `queue add`s at the same instant start
one scheduler. It writes its pid to `DB.pid`, then loops: `Scheduler.tick()`, then sleeps on the
wake-up FIFO `DB.wake` for at most `POLL_SECONDS` (`queue add`, `release`, `retry`, `move` write
a byte there, so a job starts at once).

`queue stop` (`stop`) marks the scheduler stopped in the database (a later `queue add` does not
start it again; `queue start` does) and sends SIGTERM: the scheduler stops starting jobs and
exits; running jobs go on as ordinary runs (watch, ctl, runs) and are adopted when a scheduler
starts again. `queue stop --jobs` stops them too (each gets SIGTERM: a checkpoint, status
`interrupted`, job state `stopped`) before the scheduler exits.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import os
import select
import signal
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path

from tui_trainer.atomic import PRIVATE_DIR, PRIVATE_FILE, atomic_write_text
from tui_trainer.errors import UserError
from tui_trainer.queue.paths import QueuePaths, live_pid, wake
from tui_trainer.queue.scheduler import POLL_SECONDS, Scheduler, TickHook
from tui_trainer.queue.store import QueueStore

WANTED_KEY = "scheduler"
"""`meta` key: `stopped` after `queue stop` (a later `add` does not start it), else absent."""
STOP_JOBS_KEY = "stop_jobs"
"""`meta` key: `1` when `queue stop --jobs` asked the scheduler to stop the running jobs too."""


def spawn(db: Path) -> None:
    """Start a scheduler for `db` in its own session (it exits at once if one runs)."""
    paths = QueuePaths(db)
    paths.db.parent.mkdir(mode=PRIVATE_DIR, parents=True, exist_ok=True)
    fd = os.open(paths.log, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, PRIVATE_FILE)
    with open(fd, "ab") as out:
        subprocess.Popen(
            [sys.executable, "-m", "tui_trainer.queue.daemon", "--db", str(db)],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )


def ensure_running(store: QueueStore) -> bool:
    """Start the scheduler unless one runs or `queue stop` stopped it; whether one runs (or was
    just started)."""
    if store.meta(WANTED_KEY) == "stopped":
        return False
    if live_pid(QueuePaths(store.path)) is None:
        spawn(store.path)
    return True


def stop(store: QueueStore, *, jobs: bool = False, wait: float = 10.0) -> int | None:
    """Stop the scheduler (and with `jobs`, its running jobs); the pid it had, or None.

    Waits up to `wait` seconds for it to exit (with `jobs`: for the jobs to end, too)."""
    store.set_meta(WANTED_KEY, "stopped")
    store.set_meta(STOP_JOBS_KEY, "1" if jobs else None)
    paths = QueuePaths(store.path)
    pid = live_pid(paths)
    if pid is None:
        return None
    if pid <= 0:
        raise UserError(
            f"a scheduler holds {paths.lock} but its pid cannot be read; it will not start "
            "jobs from now on (queue stop was recorded); end it with: fuser -k " + str(paths.lock)
        )
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline and live_pid(paths) is not None:
        time.sleep(0.05)
    return pid


def _fifo(paths: QueuePaths) -> tuple[int, int] | None:
    """Open the wake-up FIFO for reading (and a writer of our own, so it never reads EOF)."""
    with contextlib.suppress(FileExistsError):
        os.mkfifo(paths.wake, 0o600)
    try:
        if not stat.S_ISFIFO(os.stat(paths.wake).st_mode):
            return None
        rd = os.open(paths.wake, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        wr = os.open(paths.wake, os.O_WRONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return None
    return rd, wr


def serve(
    store: QueueStore,
    *,
    hooks: Sequence[TickHook] = (),
    scheduler: Scheduler | None = None,
    stop_event: threading.Event | None = None,
) -> int:
    """The scheduler's life: the lock, the pid file, the loop until SIGTERM; 0 when another
    scheduler holds the lock (nothing done)."""
    paths = QueuePaths(store.path)
    lock = os.open(paths.lock, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, PRIVATE_FILE)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(lock)
        return 0
    with contextlib.suppress(OSError):  # who holds it, in the lock file itself (`live_pid`)
        os.ftruncate(lock, 0)
        os.pwrite(lock, f"{os.getpid()}\n".encode(), 0)
    done = stop_event or threading.Event()
    sched = scheduler or Scheduler(store, hooks=hooks, log=sys.stdout)
    fifo = _fifo(paths)

    def on_term(_signum: int, _frame: object) -> None:
        done.set()
        if fifo is not None:
            with contextlib.suppress(OSError):
                os.write(fifo[1], b"!")

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, on_term)
        signal.signal(signal.SIGINT, on_term)
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
    try:
        atomic_write_text(paths.pid, f"{os.getpid()}\n")
        sched.log(f"scheduler started (pid {os.getpid()}) for {store.path}")
        last_error = ""
        while not done.is_set():
            try:
                sched.tick()
                last_error = ""
            except Exception as exc:  # a damaged database, a full disk: keep going, say why
                if repr(exc) != last_error:  # once, not twice a second
                    sched.log(f"tick failed: {exc!r}")
                last_error = repr(exc)
            if fifo is None:
                done.wait(POLL_SECONDS)
                continue
            ready, _, _ = select.select([fifo[0]], [], [], POLL_SECONDS)
            if ready:
                with contextlib.suppress(OSError):
                    os.read(fifo[0], 4096)
        if store.meta(STOP_JOBS_KEY) == "1":
            sched.stop_jobs()
            store.set_meta(STOP_JOBS_KEY, None)
        sched.log(f"scheduler stopped (pid {os.getpid()})")
    finally:
        with contextlib.suppress(OSError):
            paths.pid.unlink()
        if fifo is not None:
            for fd in fifo:
                os.close(fd)
        os.close(lock)
    return 0


def default_hooks() -> list[TickHook]:
    """The hooks a scheduler runs each tick (the sweep planner)."""
    from tui_trainer.sweep.planner import SweepPlanner

    return [SweepPlanner().tick]


def main(argv: list[str] | None = None) -> int:
    """`python -m tui_trainer.queue.daemon --db DB`: the scheduler process."""
    parser = argparse.ArgumentParser(prog="tui_trainer.queue.daemon")
    parser.add_argument("--db", required=True, help="the queue database")
    args = parser.parse_args(argv)
    try:
        store = QueueStore(Path(args.db))
    except UserError as exc:  # a damaged database: say so in the log, touch nothing
        print(f"scheduler not started: {exc}", flush=True)
        return 2
    os.chdir("/")  # pin no folder (jobs start in their own); sys.path is absolute by now
    with store:
        return serve(store, hooks=default_hooks())


if __name__ == "__main__":
    sys.exit(main())


__all__ = ["ensure_running", "live_pid", "serve", "spawn", "stop", "wake"]
