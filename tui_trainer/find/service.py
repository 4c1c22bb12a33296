"""The finders from a resolved config, for the CLI and the setup screen (which imports this
module only inside its worker thread, so the console never loads torch before it is needed).

Under torchrun (WORLD_SIZE set) `run_find_lr` is one rank: every rank trains its shard, rank 0
decides and every rank gets the same finding; the process group ends here.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from typing import IO, Any

from tui_trainer.config.schema import RunConfig
from tui_trainer.engine.distributed import DistContext
from tui_trainer.engine.faults import describe_failure
from tui_trainer.errors import UserError
from tui_trainer.find.batch_size import Trial, find_batch
from tui_trainer.find.lr_range import FinderFailed, find_lr
from tui_trainer.find.parts import prepare_parts

__all__ = ["FinderFailed", "run_find_batch", "run_find_lr"]


def run_find_lr(
    config: RunConfig,
    preset: str,
    *,
    steps: int = 100,
    start: float = 1e-7,
    end: float = 10.0,
    progress: IO[str] | None = None,
    on_step: Callable[[int, float, float], None] | None = None,
    cancelled: Callable[[], bool] = lambda: False,
) -> tuple[dict[str, Any], bool]:
    """The LR range test's finding (`LRFinding.as_json`) and whether this is rank 0.

    `progress`: a stream for a progress line (a terminal only); `on_step(step, lr, loss)`.
    Raises UserError (bad input) or FinderFailed (could not measure).
    """
    dist = DistContext.from_env()
    line = _ProgressLine(progress if dist.is_main else None, f"find-lr: {steps} steps")
    parts = prepare_parts(config, preset, dist)
    ok = False
    try:

        def step(i: int, lr: float, loss: float) -> None:
            line.show(f"find-lr: step {i}/{steps}  lr {lr:.3g}  loss {loss:.4g}")
            if on_step is not None:
                on_step(i, lr, loss)

        with _failures_as_finder_failed():
            finding = find_lr(
                parts, steps=steps, start=start, end=end, on_step=step, cancelled=cancelled
            )
        ok = True
        return {**finding.as_json(), "notes": parts.notes}, parts.dist.is_main
    finally:
        line.clear()
        parts.close()
        parts.dist.stop(sync=ok)


def run_find_batch(
    config: RunConfig,
    preset: str,
    *,
    fraction: float = 0.9,
    bound_bytes: int | None = None,
    progress: IO[str] | None = None,
) -> dict[str, Any]:
    """The batch finder's finding (`BatchFinding.as_json`) on this process's device."""
    line = _ProgressLine(progress, "find-batch: measuring")
    parts = prepare_parts(config, preset)
    try:

        def trial(t: Trial) -> None:
            line.show(f"find-batch: batch {t.batch} {'fits' if t.fits else 'does not fit'}")

        with _failures_as_finder_failed():
            finding = find_batch(parts, fraction=fraction, bound_bytes=bound_bytes, on_trial=trial)
        return {**finding.as_json(), "notes": parts.notes}
    finally:
        line.clear()
        parts.close()


@contextlib.contextmanager
def _failures_as_finder_failed() -> Iterator[None]:
    """A failure while measuring (a data error, a model that raises) is one line, exit 1, as a
    failed run's (`faults.describe_failure`); bad input stays a UserError."""
    try:
        yield
    except (UserError, FinderFailed):
        raise
    except Exception as exc:
        raise FinderFailed(describe_failure(exc)) from exc


class _ProgressLine:
    """One self-overwriting status line on a terminal (nothing when `stream` is not one)."""

    def __init__(self, stream: IO[str] | None, first: str) -> None:
        self.stream = stream if stream is not None and _isatty(stream) else None
        self.last = 0.0
        self.width = 0
        self.show(first)

    def show(self, text: str) -> None:
        """Replace the line (at most ten times a second)."""
        now = time.monotonic()
        if self.stream is None or now - self.last < 0.1:
            return
        self.last = now
        self.width = max(self.width, len(text))
        self.stream.write("\r" + text.ljust(self.width))
        self.stream.flush()

    def clear(self) -> None:
        """Leave the line empty for what is printed next."""
        if self.stream is not None and self.width:
            self.stream.write("\r" + " " * self.width + "\r")
            self.stream.flush()


def _isatty(stream: IO[str]) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False
