"""`tui-trainer exec`'s console: the run screen attached to a script that exec started.

Like `watch`, with the script's output in the log panel. `q` asks: leave (the script goes on;
`tui-trainer watch RUN_DIR` attaches again), stop the script (as `s` / `ctl stop` would, then
exit with the script's code), or keep watching. A hang-up leaves the script running.
"""

from __future__ import annotations

import signal
from typing import Any, ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, Static

from tui_trainer.runlog.control import StopMode
from tui_trainer.script_exec import Script, exit_code
from tui_trainer.tui.app import TrainerApp
from tui_trainer.tui.exec_source import ExecRun
from tui_trainer.tui.screens.dialogs import YesNo


class LeaveExec(YesNo):
    """Asks what `q` means while the script runs: dismissed with True to leave it running,
    False to stay; the stop button dismisses with None."""

    ANSWERS = "leave"

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("y", "answer(True)", "Leave", show=False),
        Binding("s", "stop", "Stop the script", show=False),
        Binding("n,escape", "answer(False)", "Stay", show=False),
    ]

    def __init__(self, run_dir: str) -> None:
        super().__init__()
        self.run_dir = run_dir

    def compose(self) -> ComposeResult:
        """The question and three buttons."""
        with Vertical(id="quit-dialog", classes="dialog") as dialog:
            dialog.border_title = "Leave?"
            yield Static(
                "The script is still running. Leaving does not stop it; "
                f"tui-trainer watch {self.run_dir} attaches again.",
                id="quit-text",
                markup=False,
            )
            with Horizontal(id="quit-buttons"):
                yield Button("Leave (y)", id="leave-yes", variant="primary", compact=True)
                yield Button("Stop it (s)", id="leave-stop", variant="error", compact=True)
                yield Button("Stay (n)", id="leave-no", compact=True)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        """Leave, stop or stay."""
        if event.button.id == "leave-stop":
            self.dismiss(None)
        else:
            self.dismiss(event.button.id == "leave-yes")

    def action_stop(self) -> None:
        """s: stop the script."""
        self.dismiss(None)


class ExecApp(TrainerApp):
    """The run screen for the script `script` (started by `tui-trainer exec`)."""

    def __init__(self, script: Script, **kwargs: Any) -> None:
        super().__init__(handle_signals=True, watch=str(script.run_dir), **kwargs)
        self.script = script
        self.source: ExecRun | None = None
        self.stopping = False

    def watched_source(self, run_dir: str) -> ExecRun:
        """The script's run: its output first, its events once it calls `init`."""
        if self.host is not None:
            self.host.follow(self.script.proc.pid)
        self.source = ExecRun(self.script)
        return self.source

    async def action_quit(self) -> None:
        """q: once the script has ended, exit with its code; else ask (leave / stop / stay)."""
        if self.script.poll() is not None:
            code = exit_code(self.script.proc.returncode)
            self.exit(code, return_code=code)
            return
        if self.stopping or isinstance(self.screen, LeaveExec):
            return

        def answer(leave: bool | None) -> None:
            if leave:
                self.left_running = str(self.script.run_dir)
                self.exit(0, return_code=0)
            elif leave is None:
                self.stop_script()

        self.push_screen(LeaveExec(str(self.script.run_dir)), answer)

    def stop_script(self) -> None:
        """Stop the script as `ctl stop --now` does (SIGTERM when it never called `init`),
        then exit with its code once it has ended."""
        self.stopping = True
        source = self.source
        if source is not None and source.called_init:
            source.control.request_stop(StopMode.STEP)
        else:
            self.script.terminate(signal.SIGTERM)
        self.notify("stopping the script…", timeout=10)
        self.set_interval(0.2, self._exit_when_ended)

    def _exit_when_ended(self) -> None:
        if self.script.poll() is not None:
            code = exit_code(self.script.proc.returncode)
            self.exit(code, return_code=code)


def run_exec(script: Script, images: str = "auto") -> int:
    """The run screen attached to `script`; after it, the line on a run left going. Returns
    the script's exit code once it has ended, else 0 (left running) or 128+N (signal N).
    `images`: how pictures are drawn (`tui.pictures.mode`)."""
    from tui_trainer.tui.exit_lines import print_left_running
    from tui_trainer.tui.pictures.mode import prepare

    app = ExecApp(script, images=prepare(images))
    app.run()
    if script.poll() is not None:
        return exit_code(script.proc.returncode)
    print_left_running(app.left_running or str(script.run_dir))
    return app.return_code if app.return_code is not None else 0
