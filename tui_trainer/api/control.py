"""`ScriptControl`: the engine's `Control`, plus a flag that says a request may be waiting.

`iterate` polls the control (`ControlLink.poll`: a lock, a list, a dataclass) only when this
flag is up or a pause or stop is in force, so a step with nothing to honour costs one attribute
read. Every request method raises the flag after queuing; the loop lowers it before it polls, so
a request that arrives during a poll is seen at the next step.
"""

from __future__ import annotations

from tui_trainer.runlog.control import Control, StopMode


class ScriptControl(Control):
    """`Control` whose `requested` flag says whether the next step boundary must poll."""

    def __init__(self) -> None:
        super().__init__()
        self.requested = False

    def needs_poll(self) -> bool:
        """Whether the next boundary must poll (and lower the flag for the requests after)."""
        if self.requested or self.paused or self.stop_mode is not StopMode.NONE:
            self.requested = False
            return True
        return False

    def pause(self) -> None:
        super().pause()
        self.requested = True

    def request_checkpoint(self) -> None:
        super().request_checkpoint()
        self.requested = True

    def request_stop(
        self, mode: StopMode = StopMode.EPOCH, status: str = "stopped", signal: int | None = None
    ) -> None:
        super().request_stop(mode, status, signal)
        self.requested = True

    def submit_steer(self, text: str) -> tuple[str, str]:
        outcome = super().submit_steer(text)
        self.requested = True
        return outcome
