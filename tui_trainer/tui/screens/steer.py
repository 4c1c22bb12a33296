"""The steering dialogs of the run screen (`l` LR, `u` unfreeze, `e` epochs, `v` validate now).

Each shows the current value and what will happen, takes a value where one is needed, and is
dismissed with the change text (`lr=0.001`, `unfreeze`, ...) on Enter or None on Escape. The
run screen sends the text to the run's control (in-process or over the socket); the change
takes effect at the next optimizer-step boundary, or is refused with a one-line reason.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from textual import events
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Static

from tui_trainer.config.steering import BadChange, parse_change


@dataclass(frozen=True)
class SteerInfo:
    """What the dialogs show as the run's current state (from the run screen's model)."""

    lr: float | None = None
    epoch: int = 0  # 1-based, the epoch in progress
    epochs: int = 0
    trainable_params: int = 0
    total_params: int = 0


def value_input(value: str = "", placeholder: str = "") -> Input:
    """The value field: the cursor at the end of the current value (the run screen's redraws must
    not re-select it under the typing)."""
    return Input(
        value, placeholder=placeholder, id="steer-input", compact=True, select_on_focus=False
    )


TITLES = {
    "lr": "Learning rate",
    "unfreeze": "Unfreeze",
    "epochs": "Epochs",
    "validate": "Validate now",
}


def describe(kind: str, info: SteerInfo) -> tuple[str, str]:
    """(current value, what will happen) for a dialog of `kind`."""
    if kind == "lr":
        now = f"{info.lr:.4g}" if info.lr is not None else "not known yet"
        return (
            f"Current learning rate: {now}",
            "Type a value (0.001) or a factor (*0.5). From the next optimizer step the LR is "
            "that value; the schedule continues from there, its remaining shape scaled.",
        )
    if kind == "epochs":
        return (
            f"The run has {info.epochs} epochs; epoch {info.epoch} is in progress.",
            f"Type the new total (at least {max(info.epoch, 1)}). Cosine and onecycle re-plan "
            "their remainder so the LR curve stays continuous.",
        )
    if kind == "unfreeze":
        frozen = info.total_params - info.trainable_params
        return (
            f"Trainable: {info.trainable_params:,} of {info.total_params:,} parameters"
            + (f" ({frozen:,} frozen)" if frozen > 0 else " (nothing frozen)"),
            "Enter unfreezes: the frozen parameters join training at the next optimizer step; "
            "the main batch size applies from the next epoch.",
        )
    return (
        f"Epoch {info.epoch} of {info.epochs} is in progress.",
        "Enter runs a validation pass at the next step boundary; its metrics appear in the "
        "log, and the epoch goes on.",
    )


class SteerDialog(ModalScreen[str | None]):
    """One steering change: Enter sends it (dismissed with its text), Escape cancels (None)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", show=False),
        Binding("enter", "confirm", "Send", show=False),
    ]

    def __init__(self, kind: str, info: SteerInfo, typed: str = "", *, send: bool = False) -> None:
        """`typed`: what was typed after the key, before the dialog opened (it replaces the
        shown value); `send`: Enter came too, so send it once shown."""
        super().__init__()
        self.kind = kind
        self.info = info
        self._early = typed if kind in ("lr", "epochs") else ""  # for the input, once mounted
        self._send = send

    def compose(self) -> ComposeResult:
        """Title, the current value, what happens, an input where a value is needed."""
        now, what = describe(self.kind, self.info)
        with Vertical(id="steer-dialog", classes="dialog") as dialog:
            dialog.border_title = TITLES[self.kind]
            dialog.border_subtitle = "enter: send · esc: cancel"
            yield Static(now, id="steer-current", markup=False)
            yield Static(what, id="steer-what", markup=False)
            if self.kind == "lr":
                yield value_input(placeholder="0.001 or *0.5")
            elif self.kind == "epochs":
                yield value_input(str(self.info.epochs or ""))
            yield Static("", id="steer-error", markup=False)

    def on_mount(self) -> None:
        """Focus the input, if there is one (with what was typed before it was there)."""
        for field in self.query("#steer-input").results(Input):
            field.focus()
            if self._early:
                field.value, self._early = self._early, ""
                field.cursor_position = len(field.value)
        if self._send:  # before any later key can reach the field
            self.action_confirm()

    def on_key(self, event: events.Key) -> None:
        """Keys typed before the input had the focus (a busy machine) still go into it."""
        if self.type_ahead(event):
            event.stop()

    def type_ahead(self, event: events.Key) -> bool:
        """Type a printable key into the value field, even before it is mounted or focused
        (the run screen passes on keys that were queued for it when the dialog opened)."""
        if self.kind not in ("lr", "epochs") or not event.is_printable or not event.character:
            return False
        fields = list(self.query("#steer-input").results(Input))
        if not fields:  # not mounted yet: on_mount types them
            self._early += event.character
            return True
        fields[0].focus()
        fields[0].insert_text_at_cursor(event.character)
        return True

    def change_text(self) -> str:
        """The change this dialog sends; raises BadChange when the typed value is not valid."""
        if self.kind in ("unfreeze", "validate"):
            return self.kind
        value = self.query_one("#steer-input", Input).value.strip()
        return parse_change(f"{self.kind}={value}").text

    def on_input_submitted(self, event: Input.Submitted) -> None:
        """Enter in the input sends."""
        event.stop()
        self.action_confirm()

    def action_confirm(self) -> None:
        """Send the change, or say why the value cannot be sent."""
        try:
            text = self.change_text()
        except BadChange as exc:
            self.query_one("#steer-error", Static).update(str(exc))
            return
        self.dismiss(text)

    def action_cancel(self) -> None:
        """Escape: nothing is sent."""
        self.dismiss(None)
