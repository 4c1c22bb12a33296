"""Modal dialogs: the key help, and the confirmation before quitting a running run."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Static

HELP_KEYS: list[tuple[str, str, str]] = [
    ("Setup", "ctrl+r", "start the run (or press the Start button)"),
    ("Setup", "ctrl+b", "start in the background (survives this terminal), then watch it"),
    ("Setup", "tab", "move between the preset list and the toggles"),
    ("Setup", "f3", "the runs browser: every run under the runs folder"),
    ("Setup", "f4", "the queue: jobs queued with tui-trainer queue add or sweep"),
    ("Setup", "f6", "find LR: a range test on a copy of the model; u puts its LR in the form"),
    ("Setup", "ctrl+q", "quit (q types into the field that has focus)"),
    ("Runs", "enter", "open the run: curves, summary, report, config (a live run: attach)"),
    ("Runs", "space", "mark / unmark a run; c compares the marked runs"),
    ("Runs", "s", "sort: newest first / best metric first"),
    ("Runs", "/", "filter by preset or name (escape clears)"),
    ("Runs", "r / R", "replay the run here / in the background (a new run, same config)"),
    ("Runs", "u / U", "resume the run here / in the background (refused while it is live)"),
    ("Runs", "w", "watch the run (as tui-trainer watch); q leaves it, the run goes on"),
    (
        "Runs",
        "m",
        "the run's worst mistakes and confusion heatmap (its newest eval's, else its own)",
    ),
    ("Runs", "f5", "read the list again (it also refreshes every few seconds)"),
    ("Runs", "escape", "back (to the list, or from the list to the presets)"),
    ("Queue", "enter / w", "watch the job's run (an ended run: its detail)"),
    ("Queue", "h / r", "hold a queued job / release a held one"),
    ("Queue", "d", "remove the job from the queue (asks first; its run directory stays)"),
    ("Queue", "t", "retry an ended job (a new run directory)"),
    ("Queue", "K / J", "move a waiting job up / down (also ctrl+up / ctrl+down)"),
    ("Queue", "s", "the sweep's leaderboard (the job's sweep, else the newest)"),
    ("Sweep", "c", "compare the marked runs (space marks), else the top three"),
    ("Sweep", "enter", "open the trial's run (a live one: attach)"),
    ("Run", "p", "pause / resume at the next step boundary (clocks stop)"),
    ("Run", "c", "save a checkpoint now (the log shows its path)"),
    ("Run", "s", "stop after this epoch; press again to stop at the next step"),
    ("Run", "l", "steer: learning rate (a value, or *factor), from the next step"),
    ("Run", "u", "steer: unfreeze the frozen backbone now"),
    ("Run", "e", "steer: change the number of epochs (the LR plan follows)"),
    ("Run", "v", "steer: validate now, without ending the epoch"),
    ("Run", "g", "loss plot: log y axis on / off"),
    ("Run", "i", "samples panel: the validation pictures with predictions (in the plots' place)"),
    ("Run", "[ / ]", "samples panel: an earlier / later epoch (at the newest it follows again)"),
    ("Run", "q", "quit: asks first, saves a checkpoint, then exits (watching: just leaves)"),
    ("Summary", "n", "new run: back to setup with the same settings (watching: opens setup)"),
    ("Summary", "v", "the summary again, from the run view (after the run)"),
    ("Summary", "b", "back to the run view (plots, table, log)"),
    ("Summary", "y", "copy the replay command to the clipboard"),
    ("Summary", "m", "the worst mistakes and confusion heatmap (of the eval just run, if any)"),
    ("Gallery", "arrows", "move the cursor on the confusion heatmap"),
    ("Gallery", "enter", "only the pictures of the cell under the cursor (or click a cell)"),
    ("Gallery", "escape", "all pictures again; pressed again, close the gallery"),
    ("Anywhere", "ctrl+p", "command palette"),
    ("Anywhere", "? / f1", "this help"),
]


KEY_WIDTH = 10
"""The key column of the help: a description wraps inside its own column, beside its key."""


def help_rows() -> list[tuple[str, str, str]]:
    """The help body as (group title, key, description) rows; a group's first row has its
    title, with empty key and description."""
    rows: list[tuple[str, str, str]] = []
    group = ""
    for where, key, what in HELP_KEYS:
        if where != group:
            rows.append((where, "", ""))
            group = where
        rows.append(("", key, what))
    return rows


class HelpScreen(ModalScreen[None]):
    """The keys of every screen; any of escape, q, ? or f1 closes it."""

    DEFAULT_CSS = f"""
    HelpScreen .help-group {{ color: $text-accent; text-style: bold; margin-top: 1; }}
    HelpScreen .help-group.-first {{ margin-top: 0; }}
    HelpScreen .help-row {{ height: auto; }}
    HelpScreen .help-key {{
        width: {KEY_WIDTH}; padding-left: 2; color: $text-primary; text-style: bold;
    }}
    HelpScreen .help-what {{ width: 1fr; height: auto; }}
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q,question_mark,f1", "dismiss", "Close")
    ]

    def compose(self) -> ComposeResult:
        """A bordered panel with the key list: keys in one column, what they do in the next
        (a long description wraps in its column, not back under the keys)."""
        with VerticalScroll(id="help-dialog", classes="dialog") as dialog:
            dialog.border_title = "Keys"
            dialog.border_subtitle = "esc to close"
            first = True
            for title, key, what in help_rows():
                if title:
                    yield Static(title, classes="help-group" + (" -first" if first else ""))
                    first = False
                    continue
                with Horizontal(classes="help-row"):
                    yield Static(key, classes="help-key", markup=False)
                    yield Static(what, classes="help-what", markup=False)


class YesNo(ModalScreen[bool]):
    """A question answered by two buttons `#<ANSWERS>-yes` / `#<ANSWERS>-no` or by the keys
    bound to `answer(True)` / `answer(False)`; the safe answer (no) has the focus."""

    ANSWERS: ClassVar[str] = "answer"  # the buttons' id prefix

    def on_mount(self) -> None:
        """Focus the safe choice."""
        self.query_one(f"#{self.ANSWERS}-no", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        """Either button answers."""
        self.dismiss(event.button.id == f"{self.ANSWERS}-yes")

    def action_answer(self, yes: bool) -> None:
        """y / n keys."""
        self.dismiss(yes)


class ConfirmQuit(YesNo):
    """Asks before quitting while training runs; dismissed with True to quit."""

    ANSWERS = "quit"

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
