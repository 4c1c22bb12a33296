"""Make a sweep: check everything, then queue its trials (`tui-trainer sweep PRESET ...`).

Nothing is queued until the whole sweep checks out: the space parses, every grid combination
(or random draw) loads as a config, and a distribution's ends and every listed value load too;
the first problem is a one-line UserError (exit 2). Then the trials are queued as jobs, and
the sweep's row is written last, so the scheduler's planner never sees a sweep that is only
half queued.

Samplers: `grid` (lists only, no `--trials`: every combination), `random` (`--trials N` seeded
draws, built in) and `tpe` (Optuna; the default with `--trials` when Optuna is installed). A TPE
sweep queues its first `parallel` trials here; the scheduler's planner asks for the rest as
places free, so each suggestion learns from the trials that ended.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from tui_trainer.config.loader import load_config
from tui_trainer.config.names import safe_component
from tui_trainer.errors import UserError
from tui_trainer.queue.store import Job, QueueStore, Sweep
from tui_trainer.sweep.planner import queue_trial
from tui_trainer.sweep.space import parse_space
from tui_trainer.sweep.spec import SAMPLERS, SweepSpec
from tui_trainer.sweep.study import Study, journal_path, optuna_available, require_optuna

MAX_TRIALS = 10_000
"""Most trials `--trials` may ask for."""


@dataclass(frozen=True)
class Request:
    """What the `sweep` command was asked (see its options)."""

    preset: str
    items: list[str]
    name: str | None = None
    out: str | None = None
    gpus: int | None = None
    """GPUs per trial (`--gpus`); None: as `gpus_for` decides from the config's device."""
    per_gpu: int = 1
    priority: int = 0
    trials: int | None = None
    sampler: str | None = None
    seed: int = 0
    parallel: int = 2
    prune: bool = False


def _asked(asked: int | None, device: str) -> int:
    """`--gpus` as given (0 when not): `gpus_for` without a look at the machine."""
    if asked is not None and asked < 0:
        raise UserError(f"expected 0 or more, got {asked}", key="--gpus")
    return asked or 0


def choose_sampler(req: Request, grid_only: bool) -> str:
    """The sampler a request means (see the module docstring); UserError for a mismatch."""
    sampler = req.sampler
    if sampler is not None and sampler not in SAMPLERS:
        raise UserError(f"expected one of {', '.join(SAMPLERS)}, got {sampler!r}", key="--sampler")
    if sampler is None:
        if req.trials is None:
            return "grid"
        return "tpe" if optuna_available() else "random"
    if sampler == "grid" and req.trials is not None:
        raise UserError(
            "a grid runs every combination; --trials goes with --sampler random or tpe",
            key="--trials",
        )
    if sampler != "grid" and req.trials is None:
        raise UserError(f"--sampler {sampler} needs --trials N (how many to run)", key="--trials")
    return sampler


def create_sweep(
    store: QueueStore, req: Request, gpus_for: Callable[[int | None, str], int] = _asked
) -> tuple[Sweep, list[Job]]:
    """Check the request, queue its trials and record the sweep; the sweep and its jobs.

    `gpus_for(asked, device)`: the GPUs each trial gets for `--gpus` (None when not given) and
    the config's device, as `queue add` decides it (checked against the machine)."""
    space = parse_space(req.items)
    if not space.params:
        raise UserError(
            "nothing to sweep: give a key with several values (optim.lr=0.1,0.01) or a "
            "distribution (optim.lr=loguniform:1e-4:1e-1)"
        )
    sampler = choose_sampler(req, space.grid_only)
    if req.trials is not None and not 1 <= req.trials <= MAX_TRIALS:
        raise UserError(f"expected 1 to {MAX_TRIALS:,}, got {req.trials}", key="--trials")
    if req.parallel < 1:
        raise UserError(f"expected 1 or more, got {req.parallel}", key="--parallel")
    if req.per_gpu < 1:
        raise UserError(f"expected 1 or more, got {req.per_gpu}", key="--per-gpu")
    if sampler == "tpe" or req.prune:
        require_optuna("--sampler tpe" if sampler == "tpe" else "--prune")
    planned: list[list[str]] = []
    if sampler == "grid":
        planned = space.grid()
    elif sampler == "random":
        assert req.trials is not None
        planned = [space.draw(req.seed, i) for i in range(req.trials)]
    config, run_name = load_config(req.preset, next(iter(space.corners())))
    for overrides in space.corners():
        load_config(req.preset, overrides)  # every listed value and both ends of each range
    for overrides in planned:
        load_config(req.preset, overrides)
    monitor, mode = config.monitor()
    name = _sweep_name(store, req.name, run_name)
    spec = SweepSpec(
        sampler=sampler,
        space=space,
        trials=len(planned) if sampler != "tpe" else int(req.trials or 0),
        parallel=req.parallel,
        seed=req.seed,
        prune=req.prune,
        out=str(Path(req.out or config.out).expanduser().absolute()),
        gpus=gpus_for(req.gpus, config.device),
        per_gpu=req.per_gpu,
        priority=req.priority,
        cwd=os.getcwd(),
        name=run_name,
    )
    draft = Sweep(name, req.preset, spec.to_json(), monitor, mode, time.time())
    study = None
    if spec.study:
        study = Study(journal_path(store.path, name), name, spec, mode, create=True)
    jobs: list[Job] = []
    if sampler == "tpe":
        assert study is not None
        for _ in range(min(spec.parallel, spec.trials)):
            number, overrides = study.ask()
            load_config(req.preset, overrides)
            jobs.append(queue_trial(store, draft, spec, number, overrides))
    else:
        for i, overrides in enumerate(planned):
            number = study.ask_blank() if study is not None else i
            jobs.append(queue_trial(store, draft, spec, number, overrides))
    sweep = store.add_sweep(name, req.preset, spec.to_json(), monitor, mode)
    return sweep, jobs


def _sweep_name(store: QueueStore, wanted: str | None, run_name: str) -> str:
    """`--name` (checked to be a plain, unused name) or `<preset>-<stamp>` (-2, -3 ... when
    taken)."""
    taken = {s.name for s in store.sweeps()}
    if wanted is not None:
        if not wanted or safe_component(wanted) != wanted or wanted.startswith("-"):
            raise UserError(
                f"expected a plain name (letters, digits, - and _), got {wanted!r}", key="--name"
            )
        if wanted in taken or journal_path(store.path, wanted).exists():
            raise UserError(f"a sweep named '{wanted}' exists already; pick another", key="--name")
        return wanted
    base = f"{run_name}-{time.strftime('%Y%m%d-%H%M%S')}"
    for n in range(1, 1000):
        name = base if n == 1 else f"{base}-{n}"
        if name not in taken and not journal_path(store.path, name).exists():
            return name
    raise UserError(f"too many sweeps named '{base}-N'")
