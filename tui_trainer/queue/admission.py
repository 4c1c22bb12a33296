"""Which queued jobs start now, and on which GPUs: one pure function, `admit`.

The rules (docs/queues-sweeps.md):

- Jobs are taken in queue order (priority, then position); held jobs are skipped and do not block.
  A job that cannot start now does not stop a later one that can (a 2-GPU job waiting for two
  free GPUs does not keep a 1-GPU job off a free GPU), but a later job never takes what the
  waiting one is about to get: once a GPU job waits, no later job may take the *last* GPUs it
  could use (no starvation of wide jobs by a stream of narrow ones).
- A GPU job (`gpus >= 1`) takes `gpus` whole GPUs. By default one job per GPU. A job added with
  `per_gpu = N > 1` may share a GPU with other jobs when every job on that GPU allows one more
  (each job's own `per_gpu`), every job already there has a *measured* peak memory, the new job's
  memory is known (its own earlier measurement, or that of a running job of the same preset and
  overrides, else of the same preset), and it fits in what the GPU has free now with a margin.
  Never by a free-memory percentage alone: a GPU without a measurement takes no second job.
- A GPU that is lost, or that holds compute processes that are not the queue's (someone's own
  script), is not used.
- A CPU job (`gpus == 0`) takes one of `cpu_slots` CPU slots (default 1), GPUs or not.
- A job asking for more GPUs than the machine has (lost ones left out) fails at once (`Refusal`)
  instead of waiting forever. While NVML sees no GPU at all, GPU jobs wait (a driver hiccup must
  not fail the queue; `queue add` refuses `--gpus N` beyond what the machine has).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from tui_trainer.queue.store import QUEUED, RUNNING, Job

MARGIN_MB = 512.0
"""Free memory a packed job must leave on the GPU beyond its measured peak."""
GROWTH = 1.1
"""A measured peak is scaled by this before it is compared with the free memory."""


@dataclass(frozen=True)
class GpuState:
    """One GPU as the scheduler sees it now (from NVML)."""

    index: int
    """NVML index (with CUDA_DEVICE_ORDER=PCI_BUS_ID, the CUDA index too)."""
    memory_total_mb: float | None = None
    memory_used_mb: float | None = None
    foreign: bool = False
    """Compute processes that are not the queue's jobs are on it."""
    lost: bool = False

    @property
    def memory_free_mb(self) -> float | None:
        """Free memory, when NVML reported both numbers."""
        if self.memory_total_mb is None or self.memory_used_mb is None:
            return None
        return self.memory_total_mb - self.memory_used_mb


@dataclass(frozen=True)
class Start:
    """Start `job_id` on `gpu_ids` (empty for a CPU job)."""

    job_id: int
    gpu_ids: list[int] = field(default_factory=list)


@dataclass(frozen=True)
class Refusal:
    """A job that can never start here (asks for more GPUs than there are): fail it."""

    job_id: int
    reason: str


def _same_config(a: Job, b: Job) -> bool:
    return a.preset == b.preset and a.overrides == b.overrides


def expected_memory_mb(job: Job, measured: Sequence[Job]) -> float | None:
    """What `job` is expected to use on one GPU: its own measurement, else the largest of the
    measured jobs with the same preset and overrides, else with the same preset; None when
    nothing comparable was measured."""
    if job.peak_mem_mb is not None:
        return job.peak_mem_mb
    for same in (lambda j: _same_config(j, job), lambda j: j.preset == job.preset):
        peaks = [j.peak_mem_mb for j in measured if j.peak_mem_mb is not None and same(j)]
        if peaks:
            return max(peaks)
    return None


@dataclass
class _Gpu:
    state: GpuState
    jobs: list[Job]
    free_mb: float | None

    def takes(self, job: Job, expected: float | None) -> bool:
        if self.state.lost or self.state.foreign:
            return False
        if not self.jobs:
            return True
        count = len(self.jobs) + 1
        if job.per_gpu < count or any(j.per_gpu < count for j in self.jobs):
            return False
        if any(j.peak_mem_mb is None for j in self.jobs) or expected is None:
            return False  # not measured yet: never packed on a guess
        return self.free_mb is not None and self.free_mb >= expected * GROWTH + MARGIN_MB


def admit(
    jobs: Sequence[Job],
    gpus: Sequence[GpuState],
    *,
    cpu_slots: int = 1,
    measured: Sequence[Job] = (),
) -> list[Start | Refusal]:
    """The jobs to start now, in order, with their GPUs.

    `jobs`: the queue (any states, in queue order; running ones tell what is taken, queued ones
    are candidates). `gpus`: the machine's GPUs now (empty: none). `measured`: ended jobs whose
    peak memory may stand for a new job's (same preset and overrides).
    """
    running = [j for j in jobs if j.state == RUNNING]
    board = {g.index: _Gpu(g, [], g.memory_free_mb) for g in gpus}
    for job in running:
        for index in job.gpu_ids:
            if index in board:
                board[index].jobs.append(job)
    cpu_free = cpu_slots - sum(1 for j in running if j.gpus == 0)
    known = [*running, *measured]
    reserved: set[int] = set()  # GPUs a waiting wider job is owed
    out: list[Start | Refusal] = []
    for job in jobs:
        if job.state != QUEUED:
            continue
        if job.gpus == 0:
            if cpu_free > 0:
                cpu_free -= 1
                out.append(Start(job.id))
            continue
        if not gpus:  # NVML sees none now (`queue add` refused more GPUs than there are)
            continue
        usable = [g for g in board.values() if not g.state.lost]
        if job.gpus > len(usable):
            reason = f"needs {job.gpus} GPU(s) and this machine has {len(usable)}"
            out.append(Refusal(job.id, reason))
            continue
        expected = expected_memory_mb(job, known)
        # Empty GPUs first (one job per GPU while there are free ones), then the fullest fit.
        candidates = sorted(
            (g for g in usable if g.state.index not in reserved and g.takes(job, expected)),
            key=lambda g: (len(g.jobs), g.state.index),
        )
        if len(candidates) < job.gpus:
            reserved.update(g.state.index for g in candidates)
            continue
        chosen = candidates[: job.gpus]
        for g in chosen:
            g.jobs.append(job)
            if g.free_mb is not None:
                g.free_mb -= (expected or 0.0) * GROWTH
        out.append(Start(job.id, sorted(g.state.index for g in chosen)))
    return out
