"""A sweep's Optuna study: TPE's suggestions and the median pruner's verdicts.

Optuna is the optional extra `tui-trainer[sweep]`; it is imported here only, when a sweep uses
TPE or `--prune`. The study lives in a journal file (`JournalStorage`: no SQLAlchemy) beside the
queue database, `sweeps/<sweep>.journal`, written under its own file lock, so the `sweep`
command and the scheduler may both use it. A study's trial numbers are the sweep's trial
numbers (the jobs' `trial`).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tui_trainer.errors import UserError
from tui_trainer.sweep.space import Param
from tui_trainer.sweep.spec import SweepSpec

if TYPE_CHECKING:
    import optuna

INSTALL_HINT = "pip install 'tui-trainer[sweep]'"

PRUNER_STARTUP_TRIALS = 2
"""Trials that must complete before the pruner stops any (they set the median)."""
PRUNER_WARMUP_EPOCHS = 1
"""Epochs a trial always runs before it may be pruned."""


def require_optuna(what: str) -> Any:
    """The `optuna` module, or a one-line UserError saying how to install it."""
    try:
        import optuna
    except ImportError:
        raise UserError(f"{what} needs Optuna, which is not installed: {INSTALL_HINT}") from None
    optuna.logging.set_verbosity(optuna.logging.WARNING)  # no line per trial in our logs
    return optuna


def optuna_available() -> bool:
    """Whether Optuna can be imported (TPE is then the default sampler)."""
    try:
        import optuna  # noqa: F401
    except ImportError:
        return False
    return True


def journal_path(queue_db: Path, sweep: str) -> Path:
    """The journal file of a sweep's study, beside the queue database."""
    return queue_db.parent / "sweeps" / f"{sweep}.journal"


def distribution(optuna: Any, param: Param) -> Any:
    """The Optuna distribution of one varied key (a list becomes a categorical choice)."""
    dists = optuna.distributions
    if param.listed:
        return dists.CategoricalDistribution(list(param.values))
    if param.kind == "int":
        return dists.IntDistribution(int(param.low), int(param.high))
    return dists.FloatDistribution(param.low, param.high, log=param.kind == "loguniform")


class Study:
    """One sweep's study, opened (or created) from its journal file."""

    def __init__(self, path: Path, name: str, spec: SweepSpec, mode: str, *, create: bool) -> None:
        self.optuna = require_optuna("--sampler tpe" if spec.sampler == "tpe" else "--prune")
        self.spec = spec
        self.name = name
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        journal = self.optuna.storages.journal
        self.storage = self.optuna.storages.JournalStorage(
            journal.JournalFileBackend(str(path), lock_obj=journal.JournalFileOpenLock(str(path)))
        )
        pruner = self.optuna.pruners.MedianPruner(
            n_startup_trials=PRUNER_STARTUP_TRIALS,
            n_warmup_steps=PRUNER_WARMUP_EPOCHS + 1,  # steps are epochs, numbered from 1
        )
        direction = "maximize" if mode == "max" else "minimize"
        if create:
            self.study = self.optuna.create_study(
                study_name=name, storage=self.storage, direction=direction, pruner=pruner
            )
        else:
            self.study = self.optuna.load_study(
                study_name=name, storage=self.storage, pruner=pruner
            )
        self.study_id = self.storage.get_study_id_from_name(name)
        self._dists = {p.key: distribution(self.optuna, p) for p in spec.space.params}

    def _sampler(self) -> optuna.samplers.BaseSampler:
        """TPE seeded by the sweep's seed and the number of trials asked so far: the same sweep
        asks the same suggestions after a restart, and no two asks share a random state."""
        asked = self.storage.get_n_trials(self.study_id)
        startup = min(10, max(1, self.spec.trials // 2))
        return self.optuna.samplers.TPESampler(
            seed=(self.spec.seed * 1_000_003 + asked) % 2**32,
            n_startup_trials=startup,
            constant_liar=True,
        )

    def ask(self) -> tuple[int, list[str]]:
        """A new trial suggested by TPE: its number and overrides (fixed ones first)."""
        self.study.sampler = self._sampler()
        trial = self.study.ask(self._dists)
        varied = [p.override(trial.params[p.key]) for p in self.spec.space.params]
        return trial.number, [*self.spec.space.fixed, *varied]

    def ask_blank(self) -> int:
        """A trial without parameters (a grid's or random search's, kept for pruning)."""
        self.study.sampler = self.optuna.samplers.RandomSampler(seed=0)
        return int(self.study.ask().number)

    def _trial_id(self, number: int) -> int:
        return int(self.storage.get_trial_id_from_study_id_trial_number(self.study_id, number))

    def open_trials(self) -> set[int]:
        """Numbers of the trials not told yet (asked, their job not ended)."""
        state = self.optuna.trial.TrialState.RUNNING
        return {t.number for t in self.study.get_trials(deepcopy=False, states=(state,))}

    def tell(self, number: int, value: float | None, outcome: str) -> None:
        """Record how trial `number` ended: `complete` with its value, `pruned` or `fail`."""
        states = self.optuna.trial.TrialState
        if outcome == "complete" and value is not None and math.isfinite(value):
            self.study.tell(number, value)
        elif outcome == "pruned":
            self.study.tell(number, state=states.PRUNED)
        else:
            self.study.tell(number, state=states.FAIL)

    def reported(self, number: int) -> dict[int, float]:
        """The epoch values reported for trial `number` so far."""
        return dict(self.storage.get_trial(self._trial_id(number)).intermediate_values)

    def report(self, number: int, epoch: int, value: float) -> bool:
        """Report trial `number`'s metric at `epoch`; whether the pruner says stop it."""
        trial = self.optuna.trial.Trial(self.study, self._trial_id(number))
        if epoch not in self.reported(number):
            trial.report(value, epoch)
        return bool(trial.should_prune())
