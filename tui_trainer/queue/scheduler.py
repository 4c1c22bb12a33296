"""The scheduler's loop: reap ended jobs, adopt or resume orphans, run hooks, start what fits.

One `Scheduler.tick()` does, in order:

1. **Reap** its own children: a job whose `tui-trainer run` exited is settled from its run
   directory's summary (`completed` → done, `stopped`/`interrupted` → stopped, `pruned` → pruned,
   `failed` → failed with the run's error) or, without one, from the exit code (failed, with the
   last line of its output).
2. **Orphans**: a job the database says is running but that is not a child of this scheduler (the
   scheduler was killed, or stopped and started again): while its process lives (its run
   directory's lock is held, or its pid is still the `tui-trainer run` of that directory) it is
   adopted and watched until it ends; once gone, a final summary settles it, and a job that died
   without one (the machine lost power, SIGKILL) or was `interrupted` by a signal while no
   scheduler watched (a shutdown) is resumed with the same `run ... --run-dir DIR` (from its
   last checkpoint; attempts + 1, at most `MAX_ATTEMPTS`).
3. **Hooks** (`TickHook`, the sweep planner): queue more trials, report and prune.
4. **Admission** (`admission.admit`) and **start**: the job is claimed (running, its run directory
   made: `out/<name>/<stamp>`, never reused), then `tui-trainer run PRESET OVERRIDES --run-dir
   DIR` starts in its own session in the folder the job was added from, with
   `CUDA_VISIBLE_DEVICES` set to its GPUs (empty for a CPU job on a GPU machine; a CPU job gets
   its share of the cores as `OMP_NUM_THREADS`, `cpu_share`), output appended
   to the job's log (linked as `DIR/output.log` once the run has written its config.yaml).
5. **Measure**: the GPU memory a running job's processes hold, once it logged its first step,
   is recorded as its peak (`per_gpu` packing compares it with what a GPU has free).

A tick costs a few small SQLite reads when nothing happens; the daemon sleeps on a wake-up FIFO
between ticks (at most `POLL_SECONDS`), so an idle scheduler uses no CPU to speak of.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

import psutil

from tui_trainer.atomic import PRIVATE_DIR, PRIVATE_FILE
from tui_trainer.errors import UserError
from tui_trainer.queue.admission import Refusal, Start, admit
from tui_trainer.queue.gpus import GpuReader, GpuReading, nvml_reader, process_tree
from tui_trainer.queue.job_runs import (
    ATTEMPT_MARK,
    ended_as,
    has_first_step,
    interrupted,
    is_our_run,
    last_line,
    resumable,
)
from tui_trainer.queue.paths import QueuePaths
from tui_trainer.queue.store import DONE, FAILED, PRUNED, RUNNING, STOPPED, Job, QueueStore
from tui_trainer.rundir import create_run_dir, holder_info
from tui_trainer.runlog.layout import CONFIG

if TYPE_CHECKING:
    pass

POLL_SECONDS = 0.5
"""Longest sleep between ticks (a wake-up byte ends it at once)."""
MAX_ATTEMPTS = 5
"""Starts a job gets in all (the first and its resumes after crashes)."""
GPU_READ_SECONDS = 2.0
"""How often NVML is read while GPU jobs run or wait."""
"""How much of metrics.jsonl is searched for the first step record."""
CPU_SLOTS_KEY = "cpu_slots"
"""`meta` key: CPU slots (`queue start --cpu-slots N`)."""
"""Starts each attempt's header line in a job's log (never taken for the run's last line)."""
OUTPUT_LOG = "output.log"
"""The job's output, linked into its run directory (as a `--detach`ed run has it)."""
JOB_ENV = "TUI_TRAINER_QUEUE_JOB"
"""Set in a job's environment: its id."""
THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS")
"""A CPU job's thread count (torch's intra-op threads): its share of the cores, unless the
scheduler's own environment sets them."""


def cpu_share(slots: int) -> int:
    """Threads each CPU job gets: the cores this scheduler may run on, split between its CPU
    slots (at least one). Without it every job starts one thread per core, and two jobs on
    two cores spend most of their time waiting on each other's spinning threads."""
    try:
        cores = len(psutil.Process().cpu_affinity() or []) or os.cpu_count() or 1
    except (AttributeError, psutil.Error, OSError):  # no affinity on this platform
        cores = os.cpu_count() or 1
    return max(1, cores // max(1, slots))


TickHook = Callable[[QueueStore], object]
"""Called once per tick in the scheduler's thread, after reaping and before admission (the
sweep planner queues more trials and prunes here). Keep it short (well under `POLL_SECONDS`);
an exception is logged and the hook is called again next tick."""

Command = Callable[[Job, Path], list[str]]
"""The command line that runs `job` in its run directory."""


def run_command(job: Job, run_dir: Path) -> list[str]:
    """`python -m tui_trainer run PRESET OVERRIDES --run-dir DIR [--nproc N]`."""
    argv = [sys.executable, "-m", "tui_trainer", "run", job.preset, *job.overrides]
    argv += ["--run-dir", str(run_dir)]
    if job.gpus > 1:
        argv += ["--nproc", str(job.gpus)]
    return argv


class Scheduler:
    """Starts queued jobs as `tui-trainer run` processes and records how they end."""

    def __init__(
        self,
        store: QueueStore,
        *,
        gpu_reader: GpuReader | None = None,
        hooks: Sequence[TickHook] = (),
        command: Command = run_command,
        log: TextIO | None = None,
    ) -> None:
        self.store = store
        self.paths = QueuePaths(store.path)
        self.read_gpus = gpu_reader or nvml_reader()
        self.hooks = list(hooks)
        self.command = command
        self.out = log or sys.stderr
        self.children: dict[int, subprocess.Popen[bytes]] = {}
        self.adopted: dict[int, int] = {}  # job id -> pid, watched until it ends
        self.stepped: set[int] = set()  # jobs that logged their first step (memory measurable)
        self.linked: set[int] = set()  # jobs whose run directory has its output.log
        self.stopping: set[int] = set()  # jobs `stop_jobs` sent SIGTERM
        self.reading = GpuReading([], {})
        self._read_at = -1e9
        self._seen_gpu = False

    # -- the loop ------------------------------------------------------------------------

    def log(self, text: str) -> None:
        """One line in the scheduler's log."""
        stamp = time.strftime("%Y-%m-%d %H:%M:%S")
        with contextlib.suppress(OSError, ValueError):
            self.out.write(f"{stamp} {text}\n")
            self.out.flush()

    def tick(self) -> None:
        """One round: reap, orphans, hooks, admission and starts, memory."""
        self._reap()
        running = self.store.jobs([RUNNING])
        self._orphans(running)
        for hook in self.hooks:
            try:
                hook(self.store)
            except Exception as exc:  # a hook never stops the queue
                self.log(f"hook {getattr(hook, '__name__', hook)!r} failed: {exc!r}")
        self._admit()
        self._link_logs(running)
        self._measure()

    def idle(self) -> bool:
        """No job of this scheduler is running (children or adopted)."""
        return not self.children and not self.adopted

    # -- ended jobs ----------------------------------------------------------------------

    def _reap(self) -> None:
        for job_id, proc in list(self.children.items()):
            code = proc.poll()
            if code is None:
                continue
            del self.children[job_id]
            self.stepped.discard(job_id)
            self._settle(self.store.get(job_id), code)

    def _settle(self, job: Job, code: int | None) -> None:
        """Record how `job`'s process ended (`code`: its exit status, None when unknown)."""
        if job.state != RUNNING:
            return
        self._link_log(job)  # a run that ended between two ticks gets its output.log too
        ended = ended_as(job.run_dir)
        if ended is not None and code is None and interrupted(job.run_dir):
            self._resume(job)  # ended by a signal while no scheduler watched (a shutdown)
            return
        if ended is not None:
            state, error = ended
            self.store.finish(job.id, state, exit_code=code, error=error)
            self.log(f"job {job.id} {state} (exit {code}) {job.run_dir}")
            return
        if code is None:  # an orphan that died without a summary: resume it
            self._resume(job)
            return
        if job.id in self.stopping:  # `queue stop --jobs` ended it before it could save
            self.store.finish(job.id, STOPPED, exit_code=code, error="stopped before training")
            self.log(f"job {job.id} stopped (exit {code}) before it wrote a summary")
            return
        why = last_line(self.paths.job_log(job.id))
        if code < 0:
            name = signal.Signals(-code).name if -code in signal.valid_signals() else -code
            why = f"killed by {name} before it wrote a summary" + (f" ({why})" if why else "")
        self.store.finish(job.id, FAILED, exit_code=code, error=why or f"exit code {code}")
        self.log(f"job {job.id} failed (exit {code}): {why}")
        if job.run_dir:  # refused before it wrote anything (bad input): no empty folder left
            with contextlib.suppress(OSError):
                Path(job.run_dir).rmdir()

    def _orphans(self, running: list[Job]) -> None:
        for job in running:
            if job.id in self.children:
                continue
            pid = self.adopted.get(job.id, job.pid)
            if is_our_run(pid, job.run_dir):
                if job.id not in self.adopted and pid is not None:
                    self.adopted[job.id] = pid
                    self.log(f"job {job.id}: adopted its live run (pid {pid}) {job.run_dir}")
                continue
            holder = holder_info(job.run_dir) if job.run_dir else None
            if holder is not None and holder.pid > 0 and psutil.pid_exists(holder.pid):
                self.adopted[job.id] = holder.pid
                if job.pid != holder.pid:
                    self.store.set_pid(job.id, holder.pid)
                self.log(f"job {job.id}: adopted its live run (pid {holder.pid}) {job.run_dir}")
                continue
            self.adopted.pop(job.id, None)
            self._settle(job, None)

    def _resume(self, job: Job) -> None:
        if job.attempts >= MAX_ATTEMPTS or not resumable(job.run_dir):
            why = (
                f"died without a summary {job.attempts} times"
                if job.attempts >= MAX_ATTEMPTS
                else f"died without a summary, and {job.run_dir} is not a folder to resume in"
            )
            self.store.finish(job.id, FAILED, error=why)
            self.log(f"job {job.id} failed: {why}")
            return
        assert job.run_dir is not None
        self._gpus()  # a CPU job on a GPU machine is kept off the GPUs again
        proc = self._spawn(job, Path(job.run_dir))
        if proc is not None:
            self.store.relaunch(job.id, proc.pid)
            self.log(f"job {job.id}: resumed in {job.run_dir} (pid {proc.pid})")

    # -- starting ------------------------------------------------------------------------

    def _gpus(self, force: bool = False) -> GpuReading:
        now = time.monotonic()
        if force or now - self._read_at >= GPU_READ_SECONDS:
            ours = [p for pid in self._pids() for p in process_tree(pid)]
            try:
                self.reading = self.read_gpus(ours)
            except Exception as exc:  # NVML trouble: no GPUs this round
                self.log(f"reading the GPUs failed: {exc!r}")
                self.reading = GpuReading([], {})
            self._read_at = now
        return self.reading

    def _pids(self) -> list[int]:
        return [p.pid for p in self.children.values()] + list(self.adopted.values())

    def _cpu_slots(self) -> int:
        value = self.store.meta(CPU_SLOTS_KEY)
        return int(value) if value and value.isdigit() and int(value) > 0 else 1

    def _cpu_threads(self) -> str:
        """A CPU job's threads: the user's OMP_NUM_THREADS, else its share of the cores."""
        return os.environ.get(THREAD_VARS[0]) or str(cpu_share(self._cpu_slots()))

    def _admit(self) -> None:
        jobs = self.store.jobs([RUNNING, "queued"])
        waiting = [j for j in jobs if j.state == "queued"]
        if not waiting:
            return
        gpu_jobs = any(j.gpus > 0 for j in waiting)
        reading = self._gpus(force=gpu_jobs)  # CPU jobs need to know, too (CUDA_VISIBLE_DEVICES)
        measured = self.store.jobs([DONE, STOPPED, PRUNED]) if gpu_jobs else []
        measured = [j for j in measured if j.peak_mem_mb is not None]
        for decision in admit(jobs, reading.gpus, cpu_slots=self._cpu_slots(), measured=measured):
            if isinstance(decision, Refusal):
                self.store.reject(decision.job_id, decision.reason)
                self.log(f"job {decision.job_id} failed: {decision.reason}")
            else:
                self._start(decision, has_gpus=bool(reading.gpus))

    def _start(self, start: Start, *, has_gpus: bool) -> None:
        job = self.store.get(start.job_id)
        try:
            run_dir = create_run_dir(Path(job.cwd) / job.out, job.name)
        except UserError as exc:
            self.store.reject(job.id, str(exc))
            self.log(f"job {job.id} failed: {exc}")
            return
        claimed = self.store.claim(job.id, run_dir=str(run_dir), gpu_ids=start.gpu_ids)
        if claimed is None:  # held or removed meanwhile
            with contextlib.suppress(OSError):
                run_dir.rmdir()
            return
        proc = self._spawn(claimed, run_dir, has_gpus=has_gpus)
        if proc is not None:
            self.store.set_pid(job.id, proc.pid)
            where = f"GPU {','.join(map(str, start.gpu_ids))}" if start.gpu_ids else "CPU"
            if claimed.gpus == 0:
                threads = self._cpu_threads()
                where += f" ({threads} thread{'' if threads == '1' else 's'})"
            self.log(f"job {job.id}: started on {where} in {run_dir} (pid {proc.pid})")

    def _spawn(
        self, job: Job, run_dir: Path, *, has_gpus: bool | None = None
    ) -> subprocess.Popen[bytes] | None:
        """Start `job`'s run in `run_dir` (a child in its own session); None when it could
        not start (the job is failed with the reason)."""
        env = {**os.environ, "PYTHONUNBUFFERED": "1", JOB_ENV: str(job.id)}
        if has_gpus is None:
            has_gpus = bool(self.reading.gpus) or bool(job.gpu_ids)
        if job.gpu_ids:
            env["CUDA_DEVICE_ORDER"] = "PCI_BUS_ID"  # NVML's order is CUDA's
            env["CUDA_VISIBLE_DEVICES"] = ",".join(str(g) for g in job.gpu_ids)
        elif has_gpus:
            env["CUDA_VISIBLE_DEVICES"] = ""  # a CPU job keeps off the GPUs
        if job.gpus == 0:
            share = self._cpu_threads()
            for var in THREAD_VARS:
                env.setdefault(var, share)  # a value the user set stays
        log = self.paths.job_log(job.id)
        try:
            log.parent.mkdir(mode=PRIVATE_DIR, parents=True, exist_ok=True)
            fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, PRIVATE_FILE)
            with open(fd, "ab") as out:
                argv = self.command(job, run_dir)
                out.write(f"{ATTEMPT_MARK} {job.attempts}: {' '.join(argv)}\n".encode())
                out.flush()
                proc = subprocess.Popen(
                    argv,
                    cwd=job.cwd or None,
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                    env=env,
                )
        except OSError as exc:  # the folder it was added in is gone, no space for its log
            why = f"could not start: {exc.strerror or exc}"
            self.store.finish(job.id, FAILED, error=why)
            self.log(f"job {job.id} failed: {why}")
            with contextlib.suppress(OSError):
                run_dir.rmdir()  # only if nothing was written there
            return None
        self.children[job.id] = proc
        self.adopted.pop(job.id, None)
        return proc

    # -- output.log ----------------------------------------------------------------------

    def _link_logs(self, running: list[Job]) -> None:
        """Give each running job's run directory its `output.log` (the job's log, linked) once
        the run has made it a run directory: before that the folder must stay empty, as
        `run --run-dir` starts only in an empty one."""
        for job in running:
            self._link_log(job)

    def _link_log(self, job: Job) -> None:
        if job.id in self.linked or not job.run_dir:
            return
        run_dir = Path(job.run_dir)
        if not (run_dir / CONFIG).is_file():
            return
        self.linked.add(job.id)
        target, log = run_dir / OUTPUT_LOG, self.paths.job_log(job.id)
        if target.exists() or target.is_symlink():
            return  # a resumed job's, or the run's own
        try:
            os.link(log, target)  # the same file: later attempts append to both names
        except OSError:
            with contextlib.suppress(OSError):
                target.symlink_to(log)  # another file system

    # -- memory --------------------------------------------------------------------------

    def _measure(self) -> None:
        running = [j for j in self.store.jobs([RUNNING]) if j.gpu_ids]
        if not running:
            return
        for job in running:
            if job.id not in self.stepped and job.run_dir and has_first_step(job.run_dir):
                self.stepped.add(job.id)
        measurable = [j for j in running if j.id in self.stepped]
        if not measurable:
            return
        reading = self._gpus()
        for job in measurable:
            pid = self.children[job.id].pid if job.id in self.children else self.adopted.get(job.id)
            if pid is None:
                continue
            per_gpu: dict[int, float] = {}
            for p in process_tree(pid):
                for index, mb in reading.process_mb.get(p, {}).items():
                    per_gpu[index] = per_gpu.get(index, 0.0) + mb
            if not per_gpu:
                continue
            peak = max(per_gpu.values())
            if job.peak_mem_mb is None or peak > job.peak_mem_mb:
                self.store.set_peak_mem(job.id, peak)

    # -- stopping ------------------------------------------------------------------------

    def stop_jobs(self, wait: float = 120.0) -> None:
        """SIGTERM every running job (each saves a checkpoint and ends `interrupted`), wait for
        them, and record how they ended."""
        pids = {**{j: p.pid for j, p in self.children.items()}, **self.adopted}
        for job_id, pid in pids.items():
            self.stopping.add(job_id)
            with contextlib.suppress(ProcessLookupError, PermissionError):
                group = os.getpgid(pid)  # the job's own session: torchrun's workers too
                if group != os.getpgrp():
                    os.killpg(group, signal.SIGTERM)
            self.log(f"job {job_id}: asked to stop (SIGTERM to pid {pid})")
        deadline = time.monotonic() + wait
        while (self.children or self.adopted) and time.monotonic() < deadline:
            self._reap()
            for job_id, pid in list(self.adopted.items()):
                job = self.store.get(job_id)
                if not is_our_run(pid, job.run_dir):
                    del self.adopted[job_id]
                    ended = ended_as(job.run_dir)
                    state, error = ended or (STOPPED, "stopped with the scheduler")
                    self.store.finish(job_id, state, error=error)
            time.sleep(0.1)
