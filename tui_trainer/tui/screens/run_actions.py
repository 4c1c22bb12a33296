"""Replay, resume and watch from the runs browser: what each starts, asked first, off the UI thread.

`launch` is the one entry point (the list and the detail screen call it). Replay and resume are
confirmed in a small dialog (a stray key must not start training), then prepared in a thread
(a resume reads the checkpoint; a live run is refused at once with the lock's message) and
handed to the app as `LaunchRun`, which starts them as the Start button does: in the console,
or in the background as `tui-trainer replay` / `run --resume` with `--detach`. Watching posts
`WatchRun`, which attaches the run screen as `tui-trainer watch` does.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Button, Static

from tui_trainer.errors import UserError
from tui_trainer.tui import runs_view as rv
from tui_trainer.tui.screens.dialogs import YesNo
from tui_trainer.tui.screens.run import RunRequest

LAUNCH_BINDINGS: list[BindingType] = [
    Binding("r", "launch('replay')", "Replay"),
    Binding("R", "launch('replay', True)", "Replay in background", show=False),
    Binding("u", "launch('resume')", "Resume"),
    Binding("U", "launch('resume', True)", "Resume in background", show=False),
    Binding("w", "launch('watch')", "Watch"),
]
"""The keys that act on a run, the same in the runs browser and a run's detail (`action_launch`)."""


class LaunchRun(Message):
    """Start a run in the console (`request`), or `tui-trainer ARGV` in the background."""

    def __init__(self, request: RunRequest | None, background: list[str] | None = None) -> None:
        super().__init__()
        self.request = request
        self.background = background


class WatchRun(Message):
    """Attach the run screen to the run in `run_dir` (as `tui-trainer watch` does)."""

    def __init__(self, run_dir: str) -> None:
        super().__init__()
        self.run_dir = run_dir


def replay_request(run_dir: str, out: str | None) -> RunRequest:
    """What `tui-trainer replay RUN_DIR` runs: the saved, resolved config as is (a new run)."""
    from tui_trainer.config.loader import load_config

    source = Path(run_dir) / "config.yaml"
    if not source.is_file():
        raise UserError(f"{run_dir}: no config.yaml (expected a run directory)")
    config, name = load_config(source, [])
    return RunRequest(config, name, [], out)


def resume_request(run_dir: str) -> RunRequest:
    """What `tui-trainer run --resume RUN_DIR` continues; refused while the run is live
    (the lock message) or when it has no loadable checkpoint. Slow (reads the checkpoint)."""
    rv.refuse_if_live(run_dir)  # at once: the imports below take seconds on a cold start
    from tui_trainer.config.loader import resumed_config
    from tui_trainer.session import check_resume

    config, name = resumed_config(run_dir, None, [])
    check_resume(run_dir)
    return RunRequest(config, name, [], None, run_dir)


class ConfirmLaunch(YesNo):
    """Asks before a replay or resume starts training (a stray key must not start a run)."""

    ANSWERS = "launch"
    DEFAULT_CSS = """
    ConfirmLaunch #launch-dialog { width: 64; }
    ConfirmLaunch #launch-text { margin-bottom: 1; }
    ConfirmLaunch #launch-buttons { height: 1; align-horizontal: right; }
    ConfirmLaunch #launch-buttons Button { margin-left: 2; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("y", "answer(True)", "Start", show=False),
        Binding("n,escape", "answer(False)", "Cancel", show=False),
    ]

    def __init__(self, title: str, text: str) -> None:
        super().__init__()
        self.title_text, self.text = title, text

    def compose(self) -> ComposeResult:
        """The question and two buttons."""
        with Vertical(id="launch-dialog", classes="dialog") as dialog:
            dialog.border_title = self.title_text
            yield Static(self.text, id="launch-text", markup=False)
            with Horizontal(id="launch-buttons"):
                yield Button("Start (y)", id="launch-yes", variant="success", compact=True)
                yield Button("Cancel (n)", id="launch-no", compact=True)


def launch_question(run_dir: str, what: str, background: bool, out: str | None) -> str:
    """What a replay or resume will do, in words, with the command it stands for."""
    argv = rv.replay_argv(run_dir, out) if what == "replay" else rv.resume_argv(run_dir)
    where = (
        "in the background (it survives this terminal), then watch it"
        if background
        else ("here, in this console")
    )
    does = (
        "Train a new run with this run's saved config"
        if what == "replay"
        else "Continue this run from its last checkpoint, in its own directory"
    )
    return f"{does}, {where}.\n\n$ tui-trainer {' '.join(argv)}"


def launch(screen: Screen, run_dir: str, what: str, background: bool, out: str | None) -> None:
    """Do `what` ("replay", "resume", "watch") for `run_dir` from `screen`: watch at once, the
    others after a confirmation; refusals (a live run's lock, no checkpoint) are notified in
    one line. Used by the list and the detail screen."""
    if what == "watch":
        screen.post_message(WatchRun(run_dir))
        return

    def answered(start: bool | None) -> None:
        if start:
            screen.notify(f"{what}: preparing {run_dir}…", timeout=3)
            _prepare(screen, run_dir, what, background, out)

    title = f"{what.capitalize()} {'in the background' if background else 'here'}?"
    screen.app.push_screen(
        ConfirmLaunch(title, launch_question(run_dir, what, background, out)), answered
    )


def _prepare(screen: Screen, run_dir: str, what: str, background: bool, out: str | None) -> None:
    """Build the request (or argv) in a thread: a resume reads the checkpoint first."""

    def job() -> None:
        try:
            if what == "resume":
                if background:
                    rv.refuse_if_live(run_dir)
                    message = LaunchRun(None, rv.resume_argv(run_dir))
                else:
                    message = LaunchRun(resume_request(run_dir))
            elif background:
                message = LaunchRun(None, rv.replay_argv(run_dir, out))
            else:
                message = LaunchRun(replay_request(run_dir, out))
        except UserError as exc:
            screen.app.call_from_thread(
                screen.notify, f"{what} refused: {exc}", severity="error", timeout=12
            )
            return
        screen.post_message(message)

    screen.run_worker(job, thread=True, group="launch", exit_on_error=False)
