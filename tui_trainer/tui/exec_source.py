"""The run screen's source for `tui-trainer exec`: a script started by exec.

It shows the script's output (output.log, tailed in a thread of its own) in the log panel from
the start, waits for the script's `tui_trainer.init` to open the run's control socket and then
watches the run as `watch` does (`RemoteRun`). A script that ends without calling `init` gets a
one-line note with its exit code, and its output stays on screen (`q` exits with that code).
"""

from __future__ import annotations

import shlex
import threading
import time
from pathlib import Path

from tui_trainer.remote.endpoint import read_pointer
from tui_trainer.runlog import METRICS
from tui_trainer.runlog.events import LogMessage, RunFinished, Sink
from tui_trainer.script_exec import NO_INIT_NOTE, LogTail, Script, exit_code
from tui_trainer.tui.sources import Cancelled, RemoteRun, _tolerant_config

POLL_S = 0.2


class ExecRun:
    """Watch the run of a script that exec started; its output goes to the log panel."""

    remote = True

    def __init__(self, script: Script) -> None:
        self.script = script
        self.run_dir = script.run_dir
        self.inner = RemoteRun(script.run_dir)
        self.preset = script.run_dir.parent.name
        self.control = self.inner.control
        self.called_init = False
        self._left = threading.Event()

    def _tail(self, sink: Sink, done: threading.Event) -> None:
        """Thread: output.log's new lines to the log panel until the script ends (or we leave)."""
        tail = LogTail(self.script.log)
        while not (done.is_set() or self._left.is_set()):
            ended = self.script.poll() is not None
            for line in tail.read(final=ended):
                sink(LogMessage("info", line))
            if ended:
                return
            time.sleep(POLL_S)

    def _wait_for_init(self, cancelled: Cancelled) -> bool:
        """True once the script's run has an endpoint (or wrote records); False when the
        script ended without one, or the screen left."""
        while not (cancelled() or self._left.is_set()):
            if read_pointer(self.run_dir) is not None:
                return True
            if self.script.poll() is not None:
                return (self.run_dir / METRICS).exists()
            time.sleep(POLL_S / 2)
        return False

    def run(self, sink: Sink, cancelled: Cancelled) -> RunFinished | None:
        """Output from the start; the run's events once `init` is called."""
        done = threading.Event()
        tail = threading.Thread(target=self._tail, args=(sink, done), daemon=True)
        tail.start()
        sink(LogMessage("info", f"exec: {shlex.join(self.script.command)} in {self.run_dir}"))
        if self._wait_for_init(cancelled):
            self.called_init = True
            self.inner.config = _tolerant_config(self.run_dir)
            self.preset = str(self.inner.config.get("preset") or self.preset)
            result = self.inner.run(sink, cancelled)
            return result
        if cancelled() or self._left.is_set():
            return None
        tail.join(timeout=2.0)  # every line before the note
        code = exit_code(self.script.proc.returncode)
        sink(
            LogMessage("warning" if code else "info", f"{NO_INIT_NOTE}; it ended with code {code}")
        )
        return None  # no run to summarise: the output stays on screen; q exits with its code

    def leave(self) -> None:
        """Stop watching and tailing; the script goes on."""
        self._left.set()
        self.inner.leave()

    @property
    def log_path(self) -> Path:
        """The script's output file."""
        return self.script.log
