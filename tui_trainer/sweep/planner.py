"""The scheduler's sweep hook: more TPE trials, results told to Optuna, pruning.

The scheduler makes one `SweepPlanner` and calls `tick(store)` each turn of its loop. Only
sweeps with a study (TPE, or `--prune`) need it; a grid or random search without pruning has all
its trials queued by the `sweep` command. For each such sweep, a tick:

1. tells the study how each trial whose job ended went (its best monitored value, first
   reporting any epoch values it has not seen: a trial may end between two ticks);
2. with `--prune`, reads each running trial's new epoch lines (`runlog.lines.scan`, from where
   it stopped last time), reports the monitored value, and sends `prune` to the run's control
   socket when the median pruner says so (the run ends after that epoch, status `pruned`);
3. for TPE, asks Optuna for trials while fewer than `parallel` are queued or running and fewer
   than `trials` were asked, and queues each as a job.

A sweep that is done is left alone until the scheduler restarts. Nothing here raises into the
scheduler: a problem with one sweep is noted (one line) and the others go on.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from tui_trainer.queue.store import (
    DONE,
    FINISHED,
    PENDING,
    PRUNED,
    REMOVED,
    RUNNING,
    STATES,
    Job,
    QueueStore,
    Sweep,
)
from tui_trainer.runlog.check import is_int
from tui_trainer.runlog.layout import METRICS
from tui_trainer.runlog.lines import scan
from tui_trainer.sweep.results import finite_float, trial_value
from tui_trainer.sweep.spec import SweepSpec
from tui_trainer.sweep.study import Study, journal_path

PRUNE_EVERY = 1.0
"""Seconds between two reads of the running trials' epoch lines."""


@dataclass
class _Watch:
    """Where the epoch lines of one running trial were read up to."""

    line: int = 0
    offset: int = 0
    pruned: bool = False  # `prune` was delivered


def epoch_values(run_dir: Path, monitor: str, watch: _Watch) -> list[tuple[int, float]]:
    """(epoch, monitored value) of the epoch lines written since `watch` last read."""
    path = run_dir / METRICS
    try:
        lines = scan(path, start=watch.line, known=(watch.line, watch.offset))
    except OSError:
        return []  # not written yet
    watch.line, watch.offset = lines.last_line, lines.end_offset
    out = []
    for record in lines.records:
        value = finite_float(record.get(monitor))
        if record.get("event") == "epoch" and value is not None and is_int(record.get("epoch")):
            out.append((int(record["epoch"]), value))
    return out


def send_prune(run_dir: Path) -> bool:
    """Ask the run to stop after this epoch as `pruned`; whether it took the request."""
    from tui_trainer.remote.client import request
    from tui_trainer.remote.endpoint import NotLive

    try:
        return bool(request(run_dir, "prune", timeout=2.0).get("ok"))
    except (NotLive, OSError):
        return False  # not live (yet, or any more): asked again next time


def log_line(text: str) -> None:
    """One stamped line on stdout: the scheduler's log, as `Scheduler.log` writes it."""
    print(f"{time.strftime('%Y-%m-%d %H:%M:%S')} {text}", flush=True)


class SweepPlanner:
    """Keeps the sweeps with a study going; one per scheduler (see the module docstring)."""

    def __init__(
        self,
        note: Callable[[str], None] = log_line,
        *,
        clock: Callable[[], float] = time.monotonic,
        prune: Callable[[Path], bool] = send_prune,
    ) -> None:
        self.note = note
        self.clock = clock
        self.prune = prune
        self._studies: dict[str, Study] = {}
        self._done: set[str] = set()
        self._watches: dict[int, _Watch] = {}
        self._read_at = -math.inf
        self._noted: dict[str, str] = {}

    def tick(self, store: QueueStore) -> list[Job]:
        """One turn: tell, prune, ask (see the module docstring); the jobs it queued."""
        added: list[Job] = []
        read = self.clock() - self._read_at >= PRUNE_EVERY
        if read:
            self._read_at = self.clock()
        for sweep in store.sweeps():
            if sweep.name in self._done:
                continue
            try:
                spec = SweepSpec.from_json(sweep.spec_json)
                if not spec.study:
                    self._done.add(sweep.name)
                    continue
                added += self._tick_sweep(store, sweep, spec, read)
            except Exception as exc:  # one sweep's trouble never stops the scheduler
                line = f"sweep {sweep.name}: {type(exc).__name__}: {exc}"
                if self._noted.get(sweep.name) != line:  # once, not every tick
                    self._noted[sweep.name] = line
                    self.note(line)
        return added

    def _study(self, store: QueueStore, sweep: Sweep, spec: SweepSpec) -> Study:
        study = self._studies.get(sweep.name)
        if study is None:
            path = journal_path(store.path, sweep.name)
            study = Study(path, sweep.name, spec, sweep.mode, create=False)
            self._studies[sweep.name] = study
        return study

    def _tick_sweep(
        self, store: QueueStore, sweep: Sweep, spec: SweepSpec, read: bool
    ) -> list[Job]:
        jobs = store.jobs(STATES, sweep=sweep.name)
        study = self._study(store, sweep, spec)
        open_trials = study.open_trials()
        for job in jobs:
            if job.trial in open_trials and job.state in (*FINISHED, REMOVED):
                self._tell(study, sweep, job)
                open_trials.discard(job.trial)
        if spec.prune and read:
            for job in jobs:
                if job.state == RUNNING and job.trial in open_trials:
                    self._watch(study, sweep, job)
        added: list[Job] = []
        if spec.sampler == "tpe":
            asked = len(jobs)
            in_flight = sum(j.state in (*PENDING, RUNNING) for j in jobs)
            while asked < spec.trials and in_flight < spec.parallel:
                number, overrides = study.ask()
                added.append(queue_trial(store, sweep, spec, number, overrides))
                asked += 1
                in_flight += 1
        if not open_trials and not added and len(jobs) >= spec.trials:
            self._done.add(sweep.name)
            self._studies.pop(sweep.name, None)
        return added

    def _tell(self, study: Study, sweep: Sweep, job: Job) -> None:
        """Tell the study how a trial's job ended (its epoch values reported first)."""
        assert job.trial is not None
        run_dir = job.run_path
        if run_dir is not None:
            watch = self._watches.pop(job.id, _Watch())
            seen = study.reported(job.trial)
            for epoch, value in epoch_values(run_dir, sweep.monitor, watch):
                if epoch not in seen:
                    study.report(job.trial, epoch, value)
        best = trial_value(run_dir, sweep.monitor, sweep.mode) if run_dir else None
        if job.state == DONE and best is not None:
            study.tell(job.trial, best, "complete")
        elif job.state == PRUNED:
            study.tell(job.trial, None, "pruned")
        else:
            study.tell(job.trial, None, "fail")

    def _watch(self, study: Study, sweep: Sweep, job: Job) -> None:
        """Report a running trial's new epoch values; send `prune` when the pruner says so."""
        assert job.trial is not None
        run_dir = job.run_path
        if run_dir is None:
            return
        watch = self._watches.setdefault(job.id, _Watch())
        verdict = False
        for epoch, value in epoch_values(run_dir, sweep.monitor, watch):
            verdict = study.report(job.trial, epoch, value)
        if verdict and not watch.pruned and self.prune(run_dir):
            watch.pruned = True
            self.note(f"sweep {sweep.name}: trial {job.trial} (job {job.id}) pruned")


def queue_trial(
    store: QueueStore, sweep: Sweep, spec: SweepSpec, number: int, overrides: list[str]
) -> Job:
    """Queue trial `number` of `sweep` as a job, started in the folder the sweep was made in."""
    return store.add(
        sweep.preset,
        overrides,
        out=spec.out,
        gpus=spec.gpus,
        per_gpu=spec.per_gpu,
        priority=spec.priority,
        sweep=sweep.name,
        trial=number,
        cwd=spec.cwd or None,
        name=spec.name or None,
    )
