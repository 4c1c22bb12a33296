"""Modal dialogs: the key help, and the confirmation before quitting a running run."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Button, Static

HELP_KEYS: list[tuple[str, str, str]] = [
    ("Setup", "ctrl+r", "start the run (or press the Start button)"),
    ("Setup", "ctrl+b", "start in the background (survives this terminal), then watch it"),
    ("Setup", "tab", "move between the preset list and the toggles"),
    ("Run", "p", "pause / resume at the next step boundary (clocks stop)"),
    ("Run", "c", "save a checkpoint now (the log shows its path)"),
    ("Run", "s", "stop after this epoch; press again to stop at the next step"),
    ("Run", "l", "steer: learning rate (a value, or *factor), from the next step"),
    ("Run", "u", "steer: unfreeze the frozen backbone now"),
    ("Run", "e", "steer: change the number of epochs (the LR plan follows)"),
    ("Run", "v", "steer: validate now, without ending the epoch"),
    ("Run", "g", "loss plot: log y axis on / off"),
    ("Run", "q", "quit: asks first, saves a checkpoint, then exits (watching: just leaves)"),
    ("Summary", "n", "new run: back to setup with the same settings"),
    ("Summary", "v", "the summary again, from the run view (after the run)"),
    ("Summary", "b", "back to the run view (plots, table, log)"),
    ("Summary", "y", "copy the replay command to the clipboard"),
    ("Anywhere", "ctrl+p", "command palette"),
    ("Anywhere", "? / f1", "this help"),
]


def help_text() -> Content:
    """The help body: one line per key, grouped by screen."""
    lines: list[Content] = []
    group = ""
    for where, key, what in HELP_KEYS:
        if where != group:
            if lines:
                lines.append(Content(""))
            lines.append(Content.styled(where, "bold $accent"))
            group = where
        lines.append(Content.assemble(("  " + key.ljust(8), "bold $primary"), what))
    return Content("\n").join(lines)


class HelpScreen(ModalScreen[None]):
    """The keys of every screen; any of escape, q, ? or f1 closes it."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q,question_mark,f1", "dismiss", "Close")
    ]

    def compose(self) -> ComposeResult:
        """A bordered panel with the key list."""
        with VerticalScroll(id="help-dialog", classes="dialog") as dialog:
            dialog.border_title = "Keys"
            dialog.border_subtitle = "esc to close"
            yield Static(help_text(), id="help-text")


class ConfirmQuit(ModalScreen[bool]):
    """Asks before quitting while training runs; dismissed with True to quit."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("y", "answer(True)", "Quit", show=False),
        Binding("n,escape", "answer(False)", "Keep training", show=False),
    ]

    def compose(self) -> ComposeResult:
        """The question and two buttons."""
        with Vertical(id="quit-dialog", classes="dialog") as dialog:
            dialog.border_title = "Quit?"
            yield Static(
                "Training is still running. Quitting saves a checkpoint at the next step, "
                "then exits.",
                id="quit-text",
            )
            with Horizontal(id="quit-buttons"):
                yield Button("Quit (y)", id="quit-yes", variant="error", compact=True)
                yield Button("Keep training (n)", id="quit-no", variant="primary", compact=True)

    def on_mount(self) -> None:
        """Focus the safe choice."""
        self.query_one("#quit-no", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        """Either button answers."""
        self.dismiss(event.button.id == "quit-yes")

    def action_answer(self, quit_: bool) -> None:
        """y / n keys."""
        self.dismiss(quit_)
