"""Which run directory a run gets, decided once on rank 0 and told to every rank.

`choose_target` reads what `--run-dir` (or a torchrun restart) finds (`run_target.choose`);
`claim` runs the creation or locking on rank 0 (`create_new`: `out/<preset>/<stamp>`;
`create_exact`: `--run-dir` itself); a refusal there is the same UserError on every rank, so
all of them exit 2. `discard` undoes a new directory that could not take its first files.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from tui_trainer.config.code_specs import metric_mode
from tui_trainer.config.schema import RunConfig
from tui_trainer.engine.distributed import DistContext
from tui_trainer.errors import UserError
from tui_trainer.run_target import RunTarget, choose
from tui_trainer.rundir import EARLIER, RunDirLock, claim_exact, create_run_dir


def choose_target(
    dist: DistContext,
    run_dir: Path | None,
    restart_dir: Callable[[], Path | None] | None,
    config: RunConfig,
) -> RunTarget | None:
    """`--run-dir`, or a torchrun restart: rank 0 decides what to do with the directory
    (reading only); every rank gets the same answer, or the same refusal (all exit 2). None: a
    restart without a directory to continue starts a new run as usual."""

    def decide() -> tuple[RunTarget | None, None]:
        requested = metric_mode(config)
        if run_dir is not None:
            return choose(run_dir, requested), None
        earlier = restart_dir() if restart_dir is not None else None
        if earlier is None:
            return None, None
        try:
            target = choose(earlier, requested)
            return replace(target, note=target.note.replace("--run-dir:", "restart:", 1)), None
        except UserError as exc:  # e.g. killed before its first checkpoint: start afresh
            return RunTarget("fresh", earlier, note=f"restart: a new run ({exc})"), None

    target, _ = on_rank0(dist, decide)
    return target if target is None or isinstance(target, RunTarget) else None


def on_rank0(dist: DistContext, work: Callable[[], tuple[Any, Any]]) -> tuple[Any, Any]:
    """Rank 0 runs `work`, which returns (shared, local); every rank gets `shared` (picklable).

    Returns (shared, local) on rank 0 and (shared, None) elsewhere; a refusal on rank 0 is a
    UserError on every rank (all exit 2).
    """
    local: Any = None
    error: UserError | None = None
    outcome: tuple[str, Any] = ("", None)
    if dist.is_main:
        try:
            shared, local = work()
            outcome = ("ok", shared)
        except UserError as exc:
            error, outcome = exc, ("error", str(exc))
    outcome = dist.broadcast_object(outcome)
    if error is not None:
        raise error
    if outcome[0] == "error":
        raise UserError(outcome[1])
    return outcome[1], local


def claim(dist: DistContext, take: Callable[[], tuple[Path, RunDirLock]]) -> Any:
    """Rank 0 runs `take` (create and/or lock a run directory); every rank gets its outcome.

    Returns (run_dir, lock) on rank 0 and (run_dir, None) elsewhere; a refusal on rank 0 is a
    UserError on every rank (all exit 2).
    """

    def work() -> tuple[str, RunDirLock]:
        run_dir, lock = take()
        return str(run_dir), lock

    shared, lock = on_rank0(dist, work)
    return Path(shared), lock


def create_new(out: str | Path, preset: str) -> tuple[Path, RunDirLock]:
    run_dir = create_run_dir(out, preset)
    try:
        return run_dir, RunDirLock.acquire(run_dir)
    except BaseException:
        shutil.rmtree(run_dir, ignore_errors=True)
        raise


def create_exact(run_dir: Path, made: list[bool], again: bool) -> tuple[Path, RunDirLock]:
    """`--run-dir`: the new run's directory is exactly `run_dir` (see `rundir.claim_exact`;
    `again`: the files of a run that ended there before its first checkpoint are set aside);
    `made` gets whether the folder was created here."""
    lock, created = claim_exact(run_dir, set_aside=again)
    made.append(created)
    return run_dir, lock


def discard(run_dir: Path, keep_folder: bool) -> None:
    """Undo a new run directory that could not take its first files; a `--run-dir` folder that
    existed (empty) before stays, emptied of what the run put there."""
    if not keep_folder:
        shutil.rmtree(run_dir, ignore_errors=True)
        return
    for child in run_dir.iterdir():
        if child.name.startswith(EARLIER):  # an earlier attempt's files: not ours to remove
            continue
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child, ignore_errors=True)
        else:
            child.unlink(missing_ok=True)
