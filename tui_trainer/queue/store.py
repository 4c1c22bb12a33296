"""The queue's state: jobs and sweeps in one SQLite database shared by every process.

Every write is one `BEGIN IMMEDIATE` transaction, so `queue add` from two shells, the scheduler
and the console never lose each other's changes. Where the file lives and how it is opened (a
damaged or foreign file refused, untouched): `queue.database`.

Job states and who moves a job between them::

    queued ──hold──► held ──release──► queued
    queued ──claim (scheduler)──► running ──finish──► done | failed | stopped | pruned
    failed | stopped | pruned | done ──retry──► queued   (a fresh run directory)
    queued | held | done | failed | stopped | pruned ──remove──► removed

Any other change (release a running job, retry a queued one) is a `UserError`: one line, exit 2,
nothing changed.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from tui_trainer.errors import UserError
from tui_trainer.queue.database import (
    BUSY_TIMEOUT_MS,
    DB_ENV,
    default_path,
    open_database,
    state_dir,
)
from tui_trainer.queue.records import (
    DONE,
    FAILED,
    FINISHED,
    HELD,
    JOB_COLUMNS,
    PENDING,
    PRUNED,
    QUEUED,
    REMOVED,
    RUNNING,
    STATES,
    STOPPED,
    Job,
    Sweep,
    either,
    job_from_row,
)

__all__ = [  # the records are the store's too: `from tui_trainer.queue.store import Job, QUEUED`
    "DB_ENV",
    "DONE",
    "FAILED",
    "FINISHED",
    "HELD",
    "PENDING",
    "PRUNED",
    "QUEUED",
    "REMOVED",
    "RUNNING",
    "STATES",
    "STOPPED",
    "Job",
    "QueueStore",
    "Sweep",
    "default_path",
    "run_name",
    "state_dir",
]

_ORDER = "ORDER BY priority DESC, position, id"


def run_name(preset: str) -> str:
    """The preset folder a run of `preset` gets: the file's stem (a run's config.yaml: its
    preset folder), made safe; the same rule as `config.loader.load_config`."""
    from tui_trainer.config.names import safe_component  # the config package loads pydantic

    path = Path(preset)
    stem = path.parent.parent.name if path.name == "config.yaml" else path.stem
    return safe_component(stem or "default", "preset")


class QueueStore:
    """The queue database. Safe to share between threads; one per process is plenty.

    Every method that changes something is one `BEGIN IMMEDIATE` transaction; a job that does
    not exist or a change its state does not allow is a `UserError`.
    """

    def __init__(self, path: Path | None = None) -> None:
        self.path = Path(path) if path is not None else default_path()
        self._lock = threading.RLock()
        self._conn = open_database(self.path)

    def close(self) -> None:
        """Close the connection (the store is unusable afterwards)."""
        with self._lock:
            self._conn.close()

    def __enter__(self) -> QueueStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- transactions --------------------------------------------------------------------

    @contextlib.contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One `BEGIN IMMEDIATE` transaction: committed when the block ends, else rolled back."""
        with self._lock, self._errors():
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    @contextlib.contextmanager
    def _errors(self) -> Iterator[None]:
        try:
            yield
        except sqlite3.DatabaseError as exc:
            if isinstance(exc, sqlite3.OperationalError) and "locked" in str(exc):
                raise UserError(
                    f"the queue database stayed locked for {BUSY_TIMEOUT_MS // 1000} s: {exc}",
                    location=str(self.path),
                ) from None
            raise UserError(f"queue database error: {exc}", location=str(self.path)) from None

    def data_version(self) -> int:
        """A number that changes when another connection commits (cheap change polling)."""
        with self._lock, self._errors():
            return int(self._conn.execute("PRAGMA data_version").fetchone()[0])

    def meta(self, key: str) -> str | None:
        """A value of the `meta` table (the scheduler's wanted state, the schema version)."""
        with self._lock, self._errors():
            row = self._conn.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, key: str, value: str | None) -> None:
        """Set (or with None, delete) a value of the `meta` table."""
        with self._write() as conn:
            if value is None:
                conn.execute("DELETE FROM meta WHERE key=?", (key,))
            else:
                conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))

    # -- reading -------------------------------------------------------------------------

    def _get(self, conn: sqlite3.Connection, job_id: int) -> Job:
        row = conn.execute(f"SELECT {JOB_COLUMNS} FROM jobs WHERE id=?", (int(job_id),)).fetchone()
        if row is None:
            raise UserError(f"no job {job_id} in the queue (see: tui-trainer queue ls)")
        return job_from_row(row)

    def get(self, job_id: int) -> Job:
        """The job with this id (`UserError` when there is none)."""
        with self._lock, self._errors():
            return self._get(self._conn, job_id)

    def jobs(self, states: Iterable[str] | None = None, sweep: str | None = None) -> list[Job]:
        """Jobs in queue order (priority high first, then position, then id).

        `states=None` means every state but `removed`; pass `STATES` to include removed jobs.
        """
        wanted = [s for s in STATES if s != REMOVED] if states is None else list(states)
        if not wanted:
            return []
        where = f"state IN ({','.join('?' * len(wanted))})"
        args: list[Any] = list(wanted)
        if sweep is not None:
            where += " AND sweep=?"
            args.append(sweep)
        with self._lock, self._errors():
            rows = self._conn.execute(
                f"SELECT {JOB_COLUMNS} FROM jobs WHERE {where} {_ORDER}", args
            ).fetchall()
        return [job_from_row(r) for r in rows]

    # -- the user's changes --------------------------------------------------------------

    def add(
        self,
        preset: str,
        overrides: list[str],
        *,
        out: str,
        gpus: int = 0,
        per_gpu: int = 1,
        priority: int = 0,
        sweep: str | None = None,
        trial: int | None = None,
        cwd: str | None = None,
        name: str | None = None,
    ) -> Job:
        """Queue a run of `preset` with `overrides` (validated by the caller); the new job.

        `cwd` (default: this process's) is where the run starts; `name` is the run directory's
        preset folder (default: the preset's file stem, as `run` names it; pass the name
        `config.loader.load_config` returned when you have it).
        """
        if gpus < 0:
            raise UserError(f"needs 0 or more GPUs, got {gpus}", key="--gpus")
        if per_gpu < 1:
            raise UserError(f"needs 1 or more jobs per GPU, got {per_gpu}", key="--per-gpu")
        with self._write() as conn:
            last = conn.execute("SELECT MAX(position) FROM jobs").fetchone()[0]
            cur = conn.execute(
                "INSERT INTO jobs (state, preset, overrides, out, gpus, per_gpu, priority, "
                "position, run_dir, gpu_ids, pid, attempts, exit_code, error, sweep, trial, "
                "created, started, ended, peak_mem_mb, cwd, name) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, NULL, '[]', NULL, 0, NULL, NULL, ?, ?, ?, "
                "NULL, NULL, NULL, ?, ?)",
                (
                    QUEUED,
                    preset,
                    json.dumps(list(overrides)),
                    str(out),
                    int(gpus),
                    int(per_gpu),
                    int(priority),
                    (float(last) if last is not None else 0.0) + 1.0,
                    sweep,
                    trial,
                    time.time(),
                    str(Path(cwd) if cwd is not None else Path.cwd()),
                    name or run_name(preset),
                ),
            )
            return self._get(conn, int(cur.lastrowid or 0))

    def _transition(
        self, job_id: int, allowed: tuple[str, ...], verb: str, sql: str, args: tuple[Any, ...] = ()
    ) -> Job:
        with self._write() as conn:
            job = self._get(conn, job_id)
            if job.state not in allowed:
                raise UserError(
                    f"job {job_id} is {job.state}: only a {either(allowed)} job can be {verb}"
                )
            conn.execute(f"UPDATE jobs SET {sql} WHERE id=?", (*args, int(job_id)))
            return self._get(conn, job_id)

    def hold(self, job_id: int) -> Job:
        """Keep a queued job from starting until it is released."""
        return self._transition(job_id, (QUEUED,), "held", "state=?", (HELD,))

    def release(self, job_id: int) -> Job:
        """Let a held job start again (it keeps its place)."""
        return self._transition(job_id, (HELD,), "released", "state=?", (QUEUED,))

    def remove(self, job_id: int) -> Job:
        """Take a job that is not running off the queue (its run directory stays)."""
        return self._transition(
            job_id,
            (*PENDING, *FINISHED),
            "removed",
            "state=?, ended=COALESCE(ended, ?)",
            (REMOVED, time.time()),
        )

    def retry(self, job_id: int) -> Job:
        """Queue an ended job again, as a fresh run (a new run directory), at the end."""
        with self._write() as conn:
            job = self._get(conn, job_id)
            if job.state not in FINISHED:
                raise UserError(
                    f"job {job_id} is {job.state}: only a {either(FINISHED)} job can be retried"
                )
            last = conn.execute("SELECT MAX(position) FROM jobs").fetchone()[0]
            conn.execute(
                "UPDATE jobs SET state=?, run_dir=NULL, gpu_ids='[]', pid=NULL, attempts=0, "
                "exit_code=NULL, error=NULL, started=NULL, ended=NULL, position=? WHERE id=?",
                (QUEUED, float(last or 0.0) + 1.0, int(job_id)),
            )
            return self._get(conn, job_id)

    def move(
        self, job_id: int, *, to_index: int | None = None, before_id: int | None = None
    ) -> Job:
        """Move a waiting job to `to_index` (0: next to start) among the waiting jobs, or just
        before job `before_id`. The job takes the priority of its new neighbour, so the queue
        order is exactly the one asked for."""
        if (to_index is None) == (before_id is None):
            raise UserError("move needs exactly one of --to N or --before JOB")
        with self._write() as conn:
            job = self._get(conn, job_id)
            if job.state not in PENDING:
                raise UserError(f"job {job_id} is {job.state}: only a queued or held job can move")
            rows = conn.execute(
                f"SELECT {JOB_COLUMNS} FROM jobs WHERE state IN (?, ?) {_ORDER}", PENDING
            ).fetchall()
            others = [j for j in (job_from_row(r) for r in rows) if j.id != job.id]
            if before_id is not None:
                target = self._get(conn, before_id)
                if target.state not in PENDING:
                    raise UserError(
                        f"job {before_id} is {target.state}: a job can only move before a "
                        "queued or held one"
                    )
                if target.id == job.id:
                    return job
                index = next(i for i, j in enumerate(others) if j.id == target.id)
            else:
                assert to_index is not None
                if to_index < 0:
                    raise UserError(f"needs a position 0 or more, got {to_index}", key="--to")
                index = min(to_index, len(others))
            if not others:
                return job
            neighbour = others[index] if index < len(others) else others[-1]
            order = [j.id for j in others]
            order.insert(index, job.id)
            # Renumber the waiting jobs in the new order (priorities stay non-increasing along
            # it, so priority-then-position reproduces it exactly).
            conn.execute("UPDATE jobs SET priority=? WHERE id=?", (neighbour.priority, job.id))
            conn.executemany(
                "UPDATE jobs SET position=? WHERE id=?",
                [(float(i + 1), j) for i, j in enumerate(order)],
            )
            return self._get(conn, job_id)

    # -- the scheduler's changes ---------------------------------------------------------

    def claim(self, job_id: int, *, run_dir: str, gpu_ids: list[int]) -> Job | None:
        """Mark a queued job running in `run_dir` on `gpu_ids` (attempts + 1), before its
        process starts. None when it is no longer queued (held or removed meanwhile)."""
        with self._write() as conn:
            job = self._get(conn, job_id)
            if job.state != QUEUED:
                return None
            conn.execute(
                "UPDATE jobs SET state=?, run_dir=?, gpu_ids=?, pid=NULL, attempts=attempts+1, "
                "exit_code=NULL, error=NULL, started=?, ended=NULL WHERE id=?",
                (
                    RUNNING,
                    str(run_dir),
                    json.dumps([int(g) for g in gpu_ids]),
                    time.time(),
                    int(job_id),
                ),
            )
            return self._get(conn, job_id)

    def reject(self, job_id: int, error: str) -> Job:
        """A queued job that cannot start (its run directory cannot be made, too many GPUs
        asked): failed with `error`, never started."""
        return self._transition(
            job_id, (QUEUED,), "rejected", "state=?, error=?, ended=?", (FAILED, error, time.time())
        )

    def set_pid(self, job_id: int, pid: int | None) -> Job:
        """Record the process of a running job (after it was spawned, or adopted)."""
        return self._transition(job_id, (RUNNING,), "given a process", "pid=?", (pid,))

    def relaunch(self, job_id: int, pid: int) -> Job:
        """A running job whose process died is resumed in its run directory: new pid,
        attempts + 1."""
        return self._transition(
            job_id, (RUNNING,), "resumed", "pid=?, attempts=attempts+1", (int(pid),)
        )

    def set_peak_mem(self, job_id: int, peak_mem_mb: float) -> Job:
        """Record the GPU memory the job's run was measured to use (MiB)."""
        with self._write() as conn:
            self._get(conn, job_id)
            conn.execute(
                "UPDATE jobs SET peak_mem_mb=? WHERE id=?", (float(peak_mem_mb), int(job_id))
            )
            return self._get(conn, job_id)

    def finish(
        self, job_id: int, state: str, *, exit_code: int | None = None, error: str | None = None
    ) -> Job:
        """A running job ended: `state` is one of `FINISHED`."""
        if state not in FINISHED:
            raise ValueError(f"finish: {state!r} is not one of {FINISHED}")
        return self._transition(
            job_id,
            (RUNNING,),
            "finished",
            "state=?, exit_code=?, error=?, ended=?, pid=NULL",
            (state, exit_code, error, time.time()),
        )

    def set_error(self, job_id: int, error: str | None) -> Job:
        """Attach a one-line note to a job (a failed start, a resume)."""
        with self._write() as conn:
            self._get(conn, job_id)
            conn.execute("UPDATE jobs SET error=? WHERE id=?", (error, int(job_id)))
            return self._get(conn, job_id)

    # -- sweeps --------------------------------------------------------------------------

    def add_sweep(self, name: str, preset: str, spec_json: str, monitor: str, mode: str) -> Sweep:
        """Record a new sweep (`UserError` when the name is taken)."""
        if mode not in ("min", "max"):
            raise ValueError(f"add_sweep: mode must be 'min' or 'max', got {mode!r}")
        json.loads(spec_json)  # a programming error if it is not JSON
        with self._write() as conn:
            if conn.execute("SELECT 1 FROM sweeps WHERE name=?", (name,)).fetchone():
                raise UserError(f"a sweep named '{name}' exists already; pick another --name")
            conn.execute(
                "INSERT INTO sweeps (name, preset, spec_json, monitor, mode, created) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (name, preset, spec_json, monitor, mode, time.time()),
            )
        return self.sweep(name)

    def sweeps(self) -> list[Sweep]:
        """Every sweep, newest first."""
        with self._lock, self._errors():
            rows = self._conn.execute(
                "SELECT name, preset, spec_json, monitor, mode, created FROM sweeps "
                "ORDER BY created DESC, name"
            ).fetchall()
        return [Sweep(*r) for r in rows]

    def sweep(self, name: str) -> Sweep:
        """The sweep named `name` (`UserError` when there is none)."""
        with self._lock, self._errors():
            row = self._conn.execute(
                "SELECT name, preset, spec_json, monitor, mode, created FROM sweeps WHERE name=?",
                (name,),
            ).fetchone()
        if row is None:
            raise UserError(f"no sweep named '{name}' (see: tui-trainer sweep status)")
        return Sweep(*row)
