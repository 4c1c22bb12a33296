"""A dialog that shows commands for copying by hand (the clipboard cannot be confirmed)."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Static, TextArea
from textual.widgets.text_area import Selection

CLIPBOARD_NOTE = (
    "The first line was also sent to the clipboard (OSC 52), which a terminal may ignore without "
    "saying so "
    "(tmux needs `set -g set-clipboard on`). To copy by hand: select the text above (shift+arrows "
    "and ctrl+c here, or drag with Shift held in most terminals, or tmux copy mode: prefix [). "
    "It is in the run log (b), printed on the terminal when you quit, and in summary.json."
)


class CommandsDialog(ModalScreen[None]):
    """Commands shown in a read-only text box, for copying by hand; escape or enter closes."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q,enter", "dismiss", "Close", show=False),
    ]

    def __init__(self, title: str, commands: list[str], note: str = CLIPBOARD_NOTE) -> None:
        super().__init__()
        self.title_text = title
        self.commands = commands
        self.note = note

    def compose(self) -> ComposeResult:
        """The commands (one per line, selectable), the note, a close button."""
        with Vertical(id="commands-dialog", classes="dialog") as dialog:
            dialog.border_title = self.title_text
            dialog.border_subtitle = "esc to close"
            box = TextArea(
                "\n".join(self.commands), read_only=True, soft_wrap=False, id="commands-text"
            )  # one command per line, never wrapped: a long one scrolls sideways
            box.styles.height = min(len(self.commands) + 3, 9)
            yield box
            yield Static(self.note, id="commands-note", markup=False)
            with Horizontal(classes="dialog-buttons"):
                yield Button("Close", id="commands-close", variant="primary", compact=True)

    def on_mount(self) -> None:
        """Select the first command, so ctrl+c copies it at once."""
        box = self.query_one(TextArea)
        box.focus()
        first = box.document.get_line(0)
        box.selection = Selection((0, len(first)), (0, 0))  # cursor at the start: no scrolling

    def on_button_pressed(self, _event: Button.Pressed) -> None:
        """Close."""
        self.dismiss()
