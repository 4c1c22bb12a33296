"""The console's commands in the command palette (ctrl+p): the keys of the screen shown."""

from __future__ import annotations

from collections.abc import Iterable
from functools import partial
from typing import TYPE_CHECKING

from textual.app import SystemCommand
from textual.screen import Screen

from tui_trainer.tui.screens.run import RunScreen
from tui_trainer.tui.screens.setup import SetupScreen
from tui_trainer.tui.screens.summary import SummaryScreen

if TYPE_CHECKING:
    from tui_trainer.tui.app import TrainerApp

STEER_COMMANDS = (
    ("lr", "Steer: learning rate", "A new LR or a factor, from the next step (l)"),
    ("unfreeze", "Steer: unfreeze", "The frozen backbone joins training now (u)"),
    ("epochs", "Steer: epochs", "More or fewer epochs; the LR plan follows (e)"),
    ("validate", "Steer: validate now", "A validation pass without ending the epoch (v)"),
)


def system_commands(app: TrainerApp, screen: Screen) -> Iterable[SystemCommand]:
    """The commands for `screen` (after Textual's own)."""
    yield SystemCommand("Help: keys", "Show the keys of every screen", app.action_help)
    if isinstance(screen, SetupScreen):
        yield SystemCommand(
            "Runs browser",
            "Every run under the runs folder: open, compare (f3)",
            app.action_runs,
        )
        yield SystemCommand(
            "Queue",
            "Queued and running jobs, sweeps' leaderboards: hold, retry, watch (f4)",
            app.action_queue,
        )
    if isinstance(screen, SetupScreen):
        yield SystemCommand("Start run", "Start training with these settings", screen.action_start)
    if isinstance(screen, RunScreen) and screen.model.active and not screen.quitting:
        if screen.control.paused:
            yield SystemCommand("Resume training", "Carry on (p)", screen.action_resume)
        else:
            yield SystemCommand(
                "Pause training", "Pause at the next step boundary (p)", screen.action_pause
            )
        yield SystemCommand(
            "Checkpoint now", "Save a checkpoint at the next step (c)", screen.action_checkpoint
        )
        yield SystemCommand(
            "Stop after this epoch", "Finish the epoch, then stop (s)", screen.action_stop
        )
        for kind, title, help_ in STEER_COMMANDS:
            yield SystemCommand(title, help_, partial(screen.action_steer, kind))
    if isinstance(screen, SummaryScreen):
        yield SystemCommand("New run", "Back to setup (n)", app.action_new_run)
        yield SystemCommand("Back to run view", "Charts, table and log (b)", screen.action_back)
        yield SystemCommand(
            "Copy replay command", "To the clipboard (y)", screen.action_copy_replay
        )
