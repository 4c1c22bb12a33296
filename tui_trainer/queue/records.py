"""The queue's records: job states, a job and a sweep as the store reads them (no SQL here
but the column list the store selects, in `Job`'s order)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

QUEUED = "queued"
HELD = "held"
RUNNING = "running"
DONE = "done"
FAILED = "failed"
STOPPED = "stopped"
PRUNED = "pruned"
REMOVED = "removed"

STATES = (QUEUED, HELD, RUNNING, DONE, FAILED, STOPPED, PRUNED, REMOVED)
"""Every job state."""
PENDING = (QUEUED, HELD)
"""Jobs waiting to start (the ones `move` reorders)."""
FINISHED = (DONE, FAILED, STOPPED, PRUNED)
"""Jobs whose run ended (the states `finish` accepts)."""

JOB_COLUMNS = (
    "id, state, preset, overrides, out, gpus, per_gpu, priority, position, run_dir, gpu_ids, "
    "pid, attempts, exit_code, error, sweep, trial, created, started, ended, peak_mem_mb, "
    "cwd, name"
)
"""The `jobs` columns a `Job` is read from (`job_from_row`), in order."""


@dataclass(frozen=True)
class Job:
    """One queued run and what became of it (a row of the `jobs` table)."""

    id: int
    state: str
    """One of `STATES`."""
    preset: str
    """The preset as given to `queue add` (a name or a path)."""
    overrides: list[str]
    """`key=value` overrides, in order."""
    out: str
    """The runs root: the run directory is made under `out/<preset>/`."""
    gpus: int
    """GPUs the job needs (0: a CPU job)."""
    per_gpu: int
    """How many jobs may share one GPU with this one, when their measured memory fits."""
    priority: int
    """Higher starts first."""
    position: float
    """Order within a priority (lower first)."""
    run_dir: str | None
    """Set by the scheduler when the job is claimed; kept for a resume after a crash."""
    gpu_ids: list[int]
    """The GPUs the running job was given (CUDA_VISIBLE_DEVICES)."""
    pid: int | None
    """The `tui-trainer run` process of a running job."""
    attempts: int
    """How many times it was started (a resume after a crash counts)."""
    exit_code: int | None
    error: str | None
    """Why it failed, one line (the run's own last line, or the scheduler's reason)."""
    sweep: str | None
    """The sweep this job is a trial of."""
    trial: int | None
    """The trial number within its sweep."""
    created: float
    started: float | None
    ended: float | None
    peak_mem_mb: float | None
    """The GPU memory the run was measured to use, MiB (packing with `per_gpu`)."""
    cwd: str = ""
    """The folder `queue add` ran in: the run starts there (relative paths, your own code)."""
    name: str = ""
    """The run directory's preset folder (`out/<name>/<stamp>`), as `run` names it."""

    @property
    def run_path(self) -> Path | None:
        """The run directory (a relative one is under the folder the job was added in)."""
        if not self.run_dir:
            return None
        path = Path(self.run_dir)
        return path if path.is_absolute() else Path(self.cwd or ".") / path


@dataclass(frozen=True)
class Sweep:
    """A sweep: its trials are the jobs with `sweep == name`."""

    name: str
    preset: str
    spec_json: str
    """The sweep module's own description (keys, distributions, sampler, trials ...), JSON."""
    monitor: str
    """The metric that ranks trials."""
    mode: str
    """`min` or `max`."""
    created: float

    @property
    def spec(self) -> Any:
        """`spec_json` decoded."""
        return json.loads(self.spec_json)


def either(states: tuple[str, ...]) -> str:
    """`queued or held`, `done, failed, stopped or pruned`."""
    return states[0] if len(states) == 1 else f"{', '.join(states[:-1])} or {states[-1]}"


def job_from_row(row: tuple[Any, ...]) -> Job:
    """A `Job` from a row of `JOB_COLUMNS`."""
    (
        id_,
        state,
        preset,
        overrides,
        out,
        gpus,
        per_gpu,
        priority,
        position,
        run_dir,
        gpu_ids,
        pid,
        attempts,
        exit_code,
        error,
        sweep,
        trial,
        created,
        started,
        ended,
        peak,
        cwd,
        name,
    ) = row
    return Job(
        id=int(id_),
        state=str(state),
        preset=str(preset),
        overrides=[str(o) for o in json.loads(overrides)],
        out=str(out),
        gpus=int(gpus),
        per_gpu=int(per_gpu),
        priority=int(priority),
        position=float(position),
        run_dir=run_dir,
        gpu_ids=[int(g) for g in json.loads(gpu_ids)],
        pid=pid,
        attempts=int(attempts),
        exit_code=exit_code,
        error=error,
        sweep=sweep,
        trial=trial,
        created=float(created),
        started=started,
        ended=ended,
        peak_mem_mb=peak,
        cwd=str(cwd),
        name=str(name),
    )
