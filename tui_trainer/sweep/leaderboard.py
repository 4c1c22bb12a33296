"""A sweep's trials ranked by its monitored metric: `sweep status`, the console's board,
`sweep best`.

Each trial is a job (`QueueStore.jobs(sweep=...)`); its result is read from its run directory
(`results.read_result`: a few KB per run, so a board of a hundred trials refreshes in
milliseconds). Trials with a value are ranked best first (`mode`: max or min; ties by trial
number); the others follow in trial order. Removed trials are left out.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from tui_trainer.errors import UserError
from tui_trainer.queue.store import QueueStore, Sweep
from tui_trainer.sweep.results import read_result
from tui_trainer.sweep.spec import SweepSpec


@dataclass(frozen=True)
class Row:
    """One trial on the board."""

    rank: int | None
    """1 for the best; None while the trial has no value."""
    best: bool
    """The leader (rank 1)."""
    job: int
    trial: int | None
    state: str
    """The job's state (queued, running, done, failed, stopped, pruned ...)."""
    overrides: list[str]
    """The overrides the sweep varies, as this trial has them."""
    metric: str
    value: float | None
    best_epoch: int | None
    epoch: int
    """Epochs done so far."""
    epochs: int
    """Epochs planned."""
    run_dir: str | None
    problem: str | None = None
    """Why its run directory could not be read, if it could not."""

    def to_json(self) -> dict[str, Any]:
        """The row as plain JSON values (`sweep status --json`)."""
        return asdict(self)


def find_sweep(store: QueueStore, name: str | None) -> Sweep:
    """The sweep named `name`, or the newest one (UserError when there is none)."""
    if name is not None:
        return store.sweep(name)
    sweeps = store.sweeps()
    if not sweeps:
        raise UserError("no sweeps yet; start one with: tui-trainer sweep PRESET key=a,b ...")
    return sweeps[0]


def leaderboard(store: QueueStore, sweep: str | Sweep) -> list[Row]:
    """The trials of `sweep` ranked (see the module docstring)."""
    record = sweep if isinstance(sweep, Sweep) else store.sweep(sweep)
    spec = SweepSpec.from_json(record.spec_json)
    rows: list[Row] = []
    for job in store.jobs(sweep=record.name):
        path = job.run_path
        result = read_result(path, record.monitor, record.mode) if path is not None else None
        rows.append(
            Row(
                rank=None,
                best=False,
                job=job.id,
                trial=job.trial,
                state=job.state,
                overrides=spec.varied(job.overrides),
                metric=record.monitor,
                value=result.value if result else None,
                best_epoch=result.epoch if result else None,
                epoch=result.epochs_done if result else 0,
                epochs=result.epochs if result else 0,
                run_dir=str(path) if path is not None else None,
                problem=result.problem if result else None,
            )
        )
    sign = -1.0 if record.mode == "max" else 1.0
    ranked = sorted(
        (r for r in rows if r.value is not None),
        key=lambda r: (sign * (r.value or 0.0), _order(r)),
    )
    unranked = sorted((r for r in rows if r.value is None), key=_order)
    out = [Row(**{**asdict(r), "rank": i + 1, "best": i == 0}) for i, r in enumerate(ranked)]
    return out + unranked


def _order(row: Row) -> tuple[int, int]:
    return (row.trial if row.trial is not None else 1 << 30, row.job)
