"""Accumulation windows: which micro-batches make up one optimizer step (pure arithmetic)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Window:
    """The accumulation window of micro-batch `i`: micro-batches [start, end) of the epoch."""

    index: int  # optimizer step within the epoch (0-based)
    start: int
    end: int  # exclusive; the epoch's last window may be shorter
    samples: int  # samples in the whole window (its loss is their mean)

    def is_last(self, i: int) -> bool:
        """Whether micro-batch `i` ends the window (the optimizer steps after it)."""
        return i + 1 >= self.end


def window_of(i: int, sizes: list[int], accumulate: int) -> Window:
    """The window of micro-batch `i` in an epoch whose micro-batches have `sizes`."""
    start = (i // accumulate) * accumulate
    end = min(start + accumulate, len(sizes))
    return Window(i // accumulate, start, end, sum(sizes[start:end]))


def steps_in_epoch(micro_batches: int, accumulate: int) -> int:
    """Optimizer steps in an epoch of `micro_batches` (a short last window still steps)."""
    return -(-micro_batches // accumulate)
