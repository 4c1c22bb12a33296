"""The final event of a trainer's run: its summary (progress, timings, toggles, the caller's
extras) and the per-class report, whatever ended the run."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol, cast

from tui_trainer.engine.progress import run_summary
from tui_trainer.runlog.events import LogMessage, RunFinished
from tui_trainer.runlog.status import Status
from tui_trainer.runlog.summary import RunSummary

if TYPE_CHECKING:  # types only: none of these imports this module
    from tui_trainer.config.schema import RunConfig
    from tui_trainer.engine.checkpoint import Checkpointer
    from tui_trainer.engine.data.bundle import DataBundle
    from tui_trainer.engine.distributed import DistContext
    from tui_trainer.engine.faults import NonFiniteGuard
    from tui_trainer.engine.progress import Progress
    from tui_trainer.engine.stateful import StepCounts
    from tui_trainer.engine.tasks import Evaluator
    from tui_trainer.engine.time_split import TimeSplit
    from tui_trainer.engine.toggles import Toggles
    from tui_trainer.runlog.events import EventBus


class EndedRun(Protocol):
    """What the final event reads of a run (the Trainer), read-only."""

    @property
    def config(self) -> RunConfig: ...
    @property
    def progress(self) -> Progress: ...
    @property
    def monitor(self) -> str: ...
    @property
    def train_seconds(self) -> float: ...
    @property
    def counts(self) -> StepCounts: ...
    @property
    def guard(self) -> NonFiniteGuard: ...
    @property
    def toggles(self) -> Toggles: ...
    @property
    def evaluator(self) -> Evaluator: ...
    @property
    def data(self) -> DataBundle: ...
    @property
    def resumed_from(self) -> str | None: ...
    @property
    def dist(self) -> DistContext: ...
    @property
    def bus(self) -> EventBus: ...
    @property
    def checkpoints(self) -> Checkpointer | None: ...
    @property
    def split(self) -> TimeSplit: ...


def finished_event(
    t: EndedRun,
    status: str,
    error: str | None,
    tb: str | None,
    wall: float,
    extra: dict[str, Any] | None,
) -> RunFinished:
    """The `RunFinished` of `t`'s run that ended with `status` after `wall` seconds.

    `extra` joins the summary (run_dir, replay_command, ...); its "error" is the reason when
    the run itself gave none (the run directory was lost). The report is empty for a failure.

    A run whose last.pt or best.pt could not be written at its latest save (a full disk) ends
    `failed` whatever ended it, with the reason and the space needed (`unsaved_weights`):
    training may go on while the disk is full, but never reports success without its weights.
    """
    report = t.evaluator.report(t.data.class_names) if status != "failed" else ""
    missing = unsaved_weights(t)
    if missing is not None and status != "failed":
        status, error = "failed", missing
        t.bus.emit(LogMessage("error", missing))
    summary = run_summary(
        t.progress,
        status=status,
        monitor=t.monitor,
        wall=wall,
        train_seconds=t.train_seconds,
        precision=t.config.precision,
        skipped_steps=t.counts.skipped_steps,
        nonfinite_skipped=t.guard.skipped,
        notes=t.config.notes,
        error=error,
    )
    breakdown = t.split.breakdown()  # each part's share of the training time (rank 0)
    if breakdown is not None:
        summary["time_breakdown"] = breakdown
    # the toggles' and the front end's keys, which RunSummary names, come as plain dicts
    summary = cast(RunSummary, {**summary, **t.toggles.summary(), **(extra or {})})
    error = error or summary.get("error")
    if status == "completed":  # a stop signal came as the last step ended: nothing to rerun
        summary.pop("requeue", None)
        summary.pop("rerun_command", None)
    if t.resumed_from and t.dist.is_main:
        summary["resumed_from"] = t.resumed_from
    if missing is not None:
        summary["checkpoint_missing"] = missing
    if t.bus.sink_errors:
        summary["sink_errors"] = t.bus.sink_errors[:5]
    return RunFinished(Status.parse(status), summary, report, error, tb)


def unsaved_weights(t: EndedRun) -> str | None:
    """Why `t`'s run ends without its weights on disk (rank 0; None: they are saved)."""
    checkpoints = t.checkpoints
    if checkpoints is None or not t.dist.is_main:
        return None
    return checkpoints.missing_error()
