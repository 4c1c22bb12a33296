"""Fault policies: non-finite losses, out-of-memory errors, and how a failure is described.

Each policy is a small function of the config and the position in the run, so the training
loop only asks "what now?" and acts: skip the step or stop (`NonFiniteGuard`), halve the batch
or stop with advice (`on_out_of_memory`, `reduced_config`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import NoReturn

import torch

from tui_trainer.config.schema import RunConfig
from tui_trainer.engine.progress import Progress
from tui_trainer.engine.stateful import CurrentConfig
from tui_trainer.errors import TrainingError
from tui_trainer.runlog.events import ConfigChanged, LogMessage


class NonFiniteLoss(TrainingError):
    """The training loss became NaN or infinite."""


class OutOfMemory(TrainingError):
    """A step ran out of memory and the batch could not (or may not) be reduced."""


class ReduceBatch(Exception):
    """Internal: oom=reduce asks the epoch to restart at half the batch size."""

    def __init__(self, batch_size: int) -> None:
        super().__init__(batch_size)
        self.batch_size = batch_size


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message ("" when it has none)."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else ""


def is_oom(exc: BaseException) -> bool:
    """CUDA's OutOfMemoryError, or an allocator's 'out of memory' RuntimeError."""
    if isinstance(exc, torch.OutOfMemoryError):
        return True
    text = str(exc).lower()
    return isinstance(exc, RuntimeError) and (
        "out of memory" in text or "can't allocate memory" in text
    )


def describe_failure(exc: BaseException) -> str:
    """The one-line error of a failed run, as summary.json and the log show it."""
    if isinstance(exc, OutOfMemory):
        return str(exc)
    if is_oom(exc):
        return f"out of memory: {first_line(exc)} (try a smaller data.batch_size)"
    text = first_line(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def check_finite_loss(loss: float, epoch: int, step: int) -> None:
    """on_nonfinite=stop: a synced loss that is NaN/inf ends the run."""
    if not math.isfinite(loss):
        raise NonFiniteLoss(
            f"non-finite training loss at epoch {epoch + 1}, step {step} "
            "(lower optim.lr, or try precision=fp32)"
        )


@dataclass
class NonFiniteGuard:
    """on_nonfinite=skip: counts dropped steps and stops after `limit` in a row."""

    limit: int
    streak: int = 0
    skipped: int = 0

    def ok(self) -> None:
        """A step was taken: the streak ends."""
        self.streak = 0

    def skip(self, epoch: int, step: int) -> str:
        """Count a dropped step; the warning to log, or NonFiniteLoss when over the limit."""
        self.skipped += 1
        self.streak += 1
        if self.streak >= self.limit:
            raise NonFiniteLoss(
                f"{self.limit} non-finite losses in a row at epoch {epoch + 1}, step {step} "
                "(lower optim.lr, or try precision=fp32)"
            )
        return (
            f"non-finite loss at epoch {epoch + 1}, step {step}: optimizer step skipped "
            f"({self.streak} in a row, limit {self.limit})"
        )


def on_out_of_memory(
    config: RunConfig,
    batch_size: int,
    min_batch: int,
    device: torch.device,
    rank: int | None,
) -> ReduceBatch | OutOfMemory:
    """What an out-of-memory step leads to: a batch reduction, or a stop with the numbers to try.

    `rank` is set in a multi-process run: the other ranks are inside a collective, so there is
    no checkpoint and no retry there.
    """
    half, acc = batch_size // 2, config.accumulate
    if rank is not None:
        return OutOfMemory(
            f"out of memory at batch size {batch_size} on {device} (rank "
            f"{rank}): try data.batch_size={half} accumulate={acc * 2}"
        )
    if config.oom == "reduce" and half >= min_batch:
        return ReduceBatch(batch_size)
    advice = (
        f"try data.batch_size={half} accumulate={acc * 2} (the same effective batch of "
        f"{batch_size * acc}), or oom=reduce to do that automatically"
        if half >= min_batch
        else "the batch cannot shrink further: try a smaller model or image_size"
    )
    return OutOfMemory(f"out of memory at batch size {batch_size} on {device}: {advice}")


@dataclass(frozen=True)
class Reduction:
    """oom=reduce: the new config, the new position in the epoch and what to log."""

    config: RunConfig
    batch: int  # micro-batches done in the epoch at the new batch size
    note: str
    repeated: int  # samples of this epoch that run twice

    def events(self) -> list[LogMessage | ConfigChanged]:
        """What the run reports: the warning(s), and the new config for config.yaml."""
        repeat = [f"{self.repeated} sample(s) of this epoch repeat"] if self.repeated else []
        return [
            *(LogMessage("warning", line) for line in [self.note, *repeat]),
            ConfigChanged(self.config.model_dump(mode="json"), self.note),
        ]


def reduced_config(config: RunConfig, batch_size: int, batch: int) -> Reduction:
    """Halve the batch sizes and double accumulation (same effective batch), keep the position."""
    half = batch_size // 2
    done = batch * batch_size
    data = config.data.model_copy(update={"batch_size": max(config.data.batch_size // 2, 1)})
    fz = config.freeze
    freeze = fz.model_copy(update={"batch_size": fz.batch_size // 2 if fz.batch_size else None})
    note = (
        f"out of memory at batch size {batch_size}: batch halved to {half}, accumulate "
        f"{config.accumulate} → {config.accumulate * 2} (same effective batch)"
    )
    new = config.model_copy(
        update={
            "data": data,
            "freeze": freeze,
            "accumulate": config.accumulate * 2,
            "notes": [*config.notes, note],
        }
    )
    position = done // half
    return Reduction(new, position, note, done - position * half)


class OutOfMemoryPolicy:
    """The run's out-of-memory policy: stop with advice (a checkpoint first on one process),
    or go on with the halved batch from the same position (oom=reduce)."""

    def __init__(
        self,
        current: CurrentConfig,
        position: Progress,
        min_batch: int,
        device: torch.device,
        rank: int | None,
    ) -> None:
        self.current, self.position, self.min_batch = current, position, min_batch
        self.device, self.rank = device, rank

    def fail(self, batch_size: int, save_now: Callable[[str], None]) -> NoReturn:
        """A step at `batch_size` ran out of memory: raise `ReduceBatch` or `OutOfMemory`."""
        outcome = on_out_of_memory(
            self.current.value, batch_size, self.min_batch, self.device, self.rank
        )
        if isinstance(outcome, OutOfMemory) and self.rank is None:
            save_now("oom")
        raise outcome

    def reduce(self, batch_size: int) -> list[LogMessage | ConfigChanged]:
        """oom=reduce: the halved batch becomes the config, the position is kept in samples;
        the events to report."""
        reduction = reduced_config(self.current.value, batch_size, self.position.batch)
        self.current.set(reduction.config)
        self.position.batch = reduction.batch
        return reduction.events()
