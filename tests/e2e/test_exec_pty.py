"""`tui-trainer exec` on a terminal (a pty): the run screen shows the script's progress; the
terminal closing leaves the script running, and `watch` attaches to it again."""

from __future__ import annotations

import json
import os
import pty
import re
import sys
import threading
import time
from pathlib import Path

import pytest
from support.exec_scripts import API_SCRIPT, write_script

from tui_trainer.remote.client import request
from tui_trainer.remote.endpoint import read_pointer

ESCAPE = re.compile(rb"\x1b(\[[0-9;?<>=]*[ -/]*[@-~]|\][^\x07\x1b]*(\x07|\x1b\\)|[@-_])")


class Terminal:
    """A pty running `tui-trainer ARGS` at 100x30; `text()` is what it drew, escapes removed."""

    def __init__(self, args: list[str], cwd: Path) -> None:
        pid, self.master = pty.fork()
        if pid == 0:  # a session leader whose controlling terminal is the pty
            os.chdir(cwd)
            os.environ.update(COLUMNS="100", LINES="30", TERM="xterm-256color")
            os.execv(sys.executable, [sys.executable, "-m", "tui_trainer", *args])
        self.pid = pid
        self._raw = bytearray()
        threading.Thread(target=self._drain, daemon=True).start()

    def _drain(self) -> None:
        try:
            while chunk := os.read(self.master, 65536):
                self._raw += chunk
        except OSError:
            pass

    def text(self) -> str:
        """Everything drawn so far, without escape sequences."""
        return ESCAPE.sub(b"", bytes(self._raw)).decode("utf-8", "replace")

    def wait_for(self, *texts: str, timeout: float = 60) -> None:
        """Until every one of `texts` was drawn."""
        deadline = time.monotonic() + timeout
        while not all(t in self.text() for t in texts):
            assert time.monotonic() < deadline, f"never drew {texts}: {self.text()[-2000:]}"
            time.sleep(0.1)

    def hang_up(self) -> int:
        """Close the terminal; the exit code of the program on it."""
        os.close(self.master)
        _, status = os.waitpid(self.pid, 0)
        return os.waitstatus_to_exitcode(status)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.mark.slow
def test_exec_shows_progress_survives_the_terminal_and_watch_attaches_again(
    tmp_path: Path, private_runtime: Path
) -> None:
    write_script(tmp_path, "train.py", API_SCRIPT, epochs=300, steps=5, step_s=0.1)
    out = tmp_path / "runs"
    term = Terminal(["exec", "--out", str(out), "--", sys.executable, "train.py"], tmp_path)
    script_pid = None
    try:
        term.wait_for("Epoch", "/300", "RUNNING")  # the run screen, attached to the script
        term.wait_for("epoch 1 done")  # the script's own output, in the log panel
        (run_dir,) = list(out.glob("train/*"))
        pointer = read_pointer(run_dir)
        assert pointer is not None
        script_pid = pointer.pid
        term.hang_up()  # the terminal goes away: exec ends, the script goes on
        size = (run_dir / "output.log").stat().st_size
        time.sleep(1.5)
        assert _alive(script_pid)
        assert (run_dir / "output.log").stat().st_size > size  # still training, still logging
        watcher = Terminal(["watch", str(run_dir)], tmp_path)
        try:
            watcher.wait_for("Epoch", "/300", "watching")
        finally:
            watcher.hang_up()
        assert request(run_dir, "stop", now=True)["ok"]
        deadline = time.monotonic() + 60
        while _alive(script_pid):
            assert time.monotonic() < deadline, "the script did not stop"
            time.sleep(0.1)
        summary = json.loads((run_dir / "summary.json").read_text())
        assert summary["status"] == "stopped"
    finally:
        if script_pid is not None and _alive(script_pid):
            os.kill(script_pid, 9)
