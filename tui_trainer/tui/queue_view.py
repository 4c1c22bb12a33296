"""The Queue view's data: the queue's jobs with their runs' progress, as table cells.

No Textual here (the screen is `tui/screens/queue.py`). Jobs come from the queue database
(`queue.store.QueueStore`); a started job's run is looked at as the runs browser looks at runs
(`remote.runs.inspect`: `runlog.glance` reads a few KB of metrics.jsonl, and a live run's
control socket says whether it is running, paused or stopping). A run that ended is read once:
its files do not change any more. Call `read_queue` off the UI thread.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from tui_trainer.queue.paths import QueuePaths, live_pid
from tui_trainer.queue.store import FINISHED, PENDING, RUNNING, Job, QueueStore
from tui_trainer.queue.text import job_text, shown_order
from tui_trainer.remote.runs import RunInfo, inspect
from tui_trainer.runlog import METRICS, Damaged
from tui_trainer.tui import runs_view as rv

EMPTY = (
    "The queue is empty. Queue a run from a shell:\n"
    "  tui-trainer queue add PRESET [key=value ...] [--gpus N]\n"
    "or a sweep: tui-trainer sweep PRESET key=a,b,c"
)
"""What the Queue view says when there is no job."""


@dataclass(frozen=True)
class JobRow:
    """One job and what its run shows (None before it started, or while it starts)."""

    job: Job
    run: RunInfo | None = None
    problem: str | None = None  # the run's files could not be read (Damaged), one line


@dataclass
class QueueListing:
    """Every job (queue order), or why the queue could not be read."""

    rows: list[JobRow] = field(default_factory=list)
    error: str | None = None
    scheduler: int | None = None  # the live scheduler's pid (-1: live, pid not known yet)


RunCache = dict[tuple[str, str, float | None], JobRow]
"""Ended jobs' rows, by (run dir, state, end time): their runs are not read again."""


def job_row(job: Job, cache: RunCache | None = None) -> JobRow:
    """`job` with its run's progress (a finished one from `cache` when it was read before)."""
    run_dir = job.run_path
    if run_dir is None or job.state in PENDING:
        return JobRow(job)
    key = (str(run_dir), job.state, job.ended)
    if cache is not None and job.state != RUNNING and key in cache:
        return JobRow(job, cache[key].run, cache[key].problem)
    if not (run_dir / METRICS).is_file():  # claimed, its process not writing yet (or gone)
        return JobRow(job)
    try:
        row = JobRow(job, inspect(run_dir))
    except Damaged as exc:
        row = JobRow(job, problem=str(exc))
    if cache is not None and job.state != RUNNING:
        cache[key] = row
    return row


def read_queue(store: QueueStore, cache: RunCache | None = None) -> QueueListing:
    """The jobs in queue order with their runs' progress (slow for live runs: a thread)."""
    rows = [job_row(job, cache) for job in shown_order(store.jobs())]
    if cache is not None:
        keep = {(str(r.job.run_path), r.job.state, r.job.ended) for r in rows}
        for gone in set(cache) - keep:
            del cache[gone]
    return QueueListing(rows, scheduler=live_pid(QueuePaths(store.path)))


def state_text(row: JobRow) -> str:
    """`● running` / `● paused` for a job whose run is live (the dot marks it), `running` while
    its run starts, else the job's state."""
    job, run = row.job, row.run
    if job.state == RUNNING and run is not None and run.live:
        return f"● {run.status}"
    return job.state


def gpu_text(job: Job) -> str:
    """The GPUs a running job was given (`0,1`), `cpu`, or what a waiting one needs (`×2`)."""
    if job.gpu_ids:
        return ",".join(str(g) for g in job.gpu_ids)
    if job.state == RUNNING or job.state in FINISHED:
        return "cpu" if job.gpus == 0 else "-"
    return f"×{job.gpus}" if job.gpus else "cpu"


def progress_text(row: JobRow) -> str:
    """Epochs done/planned of the job's run, `-` before it writes any."""
    return rv.progress_text(row.run) if row.run is not None else "-"


def best_text(row: JobRow) -> str:
    """The run's best monitored metric so far (`val acc 97.81% @9`), `?` when unreadable."""
    if row.problem is not None:
        return "?"
    return rv.best_text(row.run) if row.run is not None else "-"


def run_text(job: Job) -> str:
    """`<preset>/<stamp>`: the last two parts of the run directory, `-` before it has one."""
    return "/".join(Path(job.run_dir).parts[-2:]) if job.run_dir else "-"


def detail_text(row: JobRow) -> str:
    """The job under the cursor in full: what it runs, its sweep and attempts, how it ended
    (exit code, the error's one line), where its run is."""
    job = row.job
    parts = [f"job {job.id}: {job_text(job, 10_000)}"]
    if job.sweep:
        trial = f" trial {job.trial}" if job.trial is not None else ""
        parts.append(f"sweep {job.sweep}{trial}")
    if job.attempts > 1:
        parts.append(f"attempt {job.attempts} (resumed)")
    if job.exit_code is not None and job.exit_code != 0:
        parts.append(f"exit {job.exit_code}")
    lines = [" · ".join(parts)]
    if job.error:
        lines.append(job.error)
    if row.problem:
        lines.append(row.problem)
    path = job.run_path
    if path is not None:
        lines.append(f"run dir {path}")
    return "\n".join(lines)


def counts_text(rows: list[JobRow]) -> str:
    """`5 jobs · 1 running · 3 queued · 1 held` (the states that have jobs)."""
    parts = [f"{len(rows)} job{'s' if len(rows) != 1 else ''}"]
    for state in ("running", "queued", "held", "failed"):
        n = sum(1 for r in rows if r.job.state == state)
        parts += [f"{n} {state}"] if n else []
    return " · ".join(parts)


def scheduler_text(listing: QueueListing) -> str:
    """Whether a scheduler runs; without one, waiting jobs wait until `queue start`."""
    if listing.scheduler is not None:
        pid = listing.scheduler
        return f"scheduler pid {pid}" if pid > 0 else "scheduler on"
    if any(r.job.state == "queued" for r in listing.rows):
        return "scheduler off: queue start"
    return "scheduler off"


def pending_index(rows: list[JobRow], job_id: int) -> int | None:
    """Where job `job_id` stands among the waiting (queued or held) jobs, None if not waiting."""
    waiting = [r.job.id for r in rows if r.job.state in PENDING]
    return waiting.index(job_id) if job_id in waiting else None
