"""What both adapters share: the run's step gate and numeric metrics as floats."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from tui_trainer.runlog.layout import RESERVED


class Ticks:
    """A sized iterable of Nones: `Run.iterate` over it is a per-step gate.

    A foreign loop (Lightning, transformers) fetches its own batches; the adapter advances
    `run.iterate(Ticks(n))` once per batch, so progress, ETA, pause (blocks in `next`),
    checkpoint-now and stop (the iterator ends) work as in a plain loop. It yields until
    `done` is set (a loop may run more batches than it announced), so only a stop ends
    `iterate` early.
    """

    def __init__(self, n: int) -> None:
        self.n = max(0, int(n))
        self.done = False

    def __len__(self) -> int:
        return self.n

    def __iter__(self) -> Iterator[None]:
        while not self.done:
            yield None


class StepGate:
    """`run.iterate` over one epoch's `Ticks`, advanced by `step()`; False once stopped."""

    def __init__(self, run: Any) -> None:
        self.run = run
        self._ticks: Ticks | None = None
        self._it: Iterator[Any] | None = None

    def start_epoch(self, batches: int) -> None:
        """Begin an epoch of (about) `batches` steps, ending the previous one."""
        self.end_epoch()
        self._ticks = Ticks(batches)
        self._it = iter(self.run.iterate(self._ticks))

    def step(self) -> bool:
        """One step boundary: may block while paused; False when the run was asked to stop."""
        if self._it is None:
            return True
        try:
            next(self._it)
        except StopIteration:
            self._it = None
            return False
        return True

    def end_epoch(self) -> None:
        """End the epoch's `iterate` as a finished loader would (its last progress event)."""
        it, ticks, self._it, self._ticks = self._it, self._ticks, None, None
        if it is None or ticks is None:
            return
        ticks.done = True
        for _ in it:  # ends at once: the ticks are done
            pass


def scalar_metrics(metrics: Mapping[str, Any]) -> dict[str, float]:
    """The numeric entries of `metrics` as floats (tensors read once; others left out), less
    the framework's own bookkeeping an epoch line keeps for itself (transformers' and
    Lightning's fractional `epoch`)."""
    out: dict[str, float] = {}
    for key, value in metrics.items():
        if key in RESERVED:
            continue
        item = getattr(value, "item", None)
        if item is not None and getattr(value, "numel", lambda: 1)() == 1:
            value = item()
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            out[str(key)] = float(value)
    return out
