"""The run screen's steering keys: l / u / e / v open a dialog, a value typed right after l or
e lands in it, and the change goes to the run's control (the log says whether it was taken)."""

from __future__ import annotations

from typing import Any

from textual import events
from textual.screen import Screen

from tui_trainer.tui.model import RunModel
from tui_trainer.tui.screens.steer import SteerDialog, SteerInfo

STEER_KEYS_SHOWN = 110
"""From this width on the footer lists the steering keys too (l LR, u Unfreeze, e Epochs,
v Validate) with every other key still in view."""

TYPED_AHEAD = frozenset("0123456789.*-+eE")
"""Characters of a value typed right after l or e (kept for the dialog that opens next)."""


class SteeringScreen(Screen[None]):
    """A screen with a run to steer: the run screen sets these attributes and `_draw`."""

    model: RunModel
    control: Any
    quitting: bool
    _typed: str | None
    _typed_enter: bool

    def _draw(self, changed: set[str]) -> None:
        """Redraw what `changed` names (the run screen's own)."""
        raise NotImplementedError

    def on_key(self, event: events.Key) -> None:
        """A value typed right after l or e reaches here before the dialog opens: keep it."""
        dialog = self.app.screen
        if isinstance(dialog, SteerDialog):
            if dialog.type_ahead(event):
                event.stop()
            return
        if self._typed is not None and (event.character or "") in TYPED_AHEAD:
            self._typed += event.character or ""
            event.stop()
        elif self._typed is not None and event.key == "enter":
            self._typed_enter = True  # the dialog sends it as soon as it opens
            event.stop()
        else:
            self._typed = "" if event.key in ("l", "e") and self._can_steer() else None

    def _can_steer(self) -> bool | None:
        """Steering while the run is active and started (None, dimmed: while quitting)."""
        if not self.model.started or self.model.finished is not None:
            return False
        return None if self.quitting else True

    def _steer_keys_shown(self) -> bool:
        """True when the footer has room for the steering keys."""
        return self.size.width >= STEER_KEYS_SHOWN

    def action_steer_key(self, kind: str) -> None:
        """l / u / e / v where the footer has no room for them: as `action_steer`."""
        self.action_steer(kind)

    def action_steer(self, kind: str) -> None:
        """l / u / e / v: a steering dialog; Enter sends its change, Escape cancels."""
        m = self.model
        info = SteerInfo(
            m.lr, m.progress.epoch, m.progress.epochs, m.trainable_params, m.total_params
        )
        typed, enter = self._typed or "", self._typed_enter
        self._typed, self._typed_enter = None, False
        dialog = SteerDialog(kind, info, typed, send=enter and bool(typed))
        self.app.push_screen(dialog, self._send_steer)

    def _send_steer(self, change: str | None) -> None:
        """Send a dialog's change; the log says whether the run took it or why not."""
        if change is None:
            return
        outcome, detail = self.control.submit_steer(change)
        if outcome == "refused":
            self.model.log("warning", f"{change} refused: {detail}")
        elif outcome == "unchanged":
            self.model.log("info", f"{change}: unchanged ({detail})")
        else:
            self.model.log("info", f"{change}: sent, takes effect at the next step boundary")
        self._draw(set())
