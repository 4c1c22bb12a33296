"""A script's validation pass, reported as the engine reports its own: `ValidationProgress`
every `PROGRESS_INTERVAL` seconds (the console's `val b/B` bar), off the training clock."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import TypeVar

from tui_trainer.engine.polling import ControlLink
from tui_trainer.engine.reporting import ValidationReporter
from tui_trainer.runlog.events import ValidationProgress

T = TypeVar("T")


def loader_length(loader: Iterable[object]) -> int:
    """`len(loader)`, or 0 for one without a length (an iterable dataset)."""
    try:
        return len(loader)  # type: ignore[arg-type]  # any Iterable; TypeError: none
    except TypeError:
        return 0


def validation_pass(
    loader: Iterable[T],
    report: ValidationReporter,
    link: ControlLink,
) -> Iterator[T]:
    """`loader`'s batches; `report` is told each batch done and the end; the time is off the
    training clock (speed and ETA count training only, as in the engine)."""
    done = 0
    with link.off_the_clock():
        for done, batch in enumerate(loader, 1):  # `done` is used after the loop
            yield batch
            report(done)
    report.done(done)


def reporter(
    emit: Callable[[ValidationProgress], None],
    epoch: int,
    epochs: int,
    batches: int,
    interval: float,
) -> ValidationReporter:
    """The engine's throttled reporter for one pass of `batches` batches of 1-based `epoch`."""
    return ValidationReporter(emit, epoch, max(epochs, epoch), batches, interval)
