"""The run's checkpoint saves: what each holds (`run_state.capture`, EMA weights for best.pt)
and which names an epoch end, a periodic save or a mid-epoch save writes.

Saving is not training time: every save runs off the training clock (`ControlLink`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tui_trainer.engine import run_state
from tui_trainer.engine.checkpoint import Checkpointer
from tui_trainer.engine.meter import EMPTY_STATE
from tui_trainer.engine.polling import ControlLink
from tui_trainer.engine.run_state import RunParts


class RunSaver:
    """Checkpoint saves of one run segment; `where` gives (the epoch in hand, its batch size)."""

    def __init__(
        self,
        checkpoints: Checkpointer,
        parts: RunParts,
        link: ControlLink,
        where: Callable[[], tuple[int, int]],
    ) -> None:
        self.checkpoints, self.parts, self.link, self.where = checkpoints, parts, link, where

    def state_dict(self, partial: dict[str, Any] = EMPTY_STATE) -> dict[str, Any]:
        """Everything a resume needs (`partial`: the partial-epoch sums, empty at an epoch end)."""
        epoch, batch_size = self.where()
        return run_state.capture(self.parts, partial, epoch=epoch, batch_size=batch_size)

    def save(
        self, reason: str, names: list[str], partial: dict[str, Any], *, best: bool = False
    ) -> bool:
        """Write the run's state under `names`; False when it was not written."""
        parts, p = self.parts, self.parts.progress

        def state() -> dict[str, Any]:
            return parts.toggles.checkpoint(self.state_dict(partial), parts.model, best=best)

        with self.link.off_the_clock():  # saving is not training time
            return self.checkpoints.save(
                parts.model, state, reason, names, (p.epoch, p.global_step)
            )

    def now(self, reason: str) -> None:
        """Save last.pt mid-epoch (every rank calls it: the partial sums are reduced)."""
        self.save(reason, ["last.pt"], self.parts.meter.state_dict())

    def periodic(self, name: str, partial: dict[str, Any]) -> None:
        """A periodic checkpoint (step_/epoch_), older ones of its kind pruned."""
        if self.save("periodic", [name], partial):
            self.checkpoints.retain(name)

    def epoch_end(self, epoch: int, is_best: bool, every: int | None) -> None:
        """After 0-based `epoch`: last.pt, best.pt when it is the best, epoch_N.pt every `every`.

        Without EMA best.pt is the same state (a hard link); under EMA it holds the evaluated
        weights too.
        """
        together = is_best and self.parts.toggles.ema is None
        self.save("epoch", ["last.pt", *(["best.pt"] if together else [])], EMPTY_STATE)
        if is_best and not together:
            self.save("epoch", ["best.pt"], EMPTY_STATE, best=True)
        if every and (epoch + 1) % every == 0:
            self.periodic(f"epoch_{epoch + 1:04d}.pt", EMPTY_STATE)
