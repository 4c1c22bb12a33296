"""`tui-trainer exec -- CMD ...`: start a user's script in a fresh run directory.

exec picks the run directory (`out/<name>/<timestamp>`, never an existing one, as for runs of
ours) and creates it holding only `output.log`. The script runs in its own session (a closed
terminal never reaches it) with `TUI_TRAINER_RUN_DIR=<that directory>` and `TUI_TRAINER_EXEC=1`
in its environment, so `tui_trainer.init` adopts that directory; its stdout and stderr are
appended to `output.log`. This module imports neither the engine nor the UI.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from tui_trainer.errors import UserError
from tui_trainer.rundir import create_run_dir

RUN_DIR_ENV = "TUI_TRAINER_RUN_DIR"
EXEC_ENV = "TUI_TRAINER_EXEC"
OUTPUT_LOG = "output.log"
NO_INIT_NOTE = "the script did not call tui_trainer.init: output only"


def default_name(command: list[str]) -> str:
    """The run's name when `--name` is not given: the script's file stem (`python train.py`
    -> `train`), else the program's name."""
    for word in command[1:]:
        if word.endswith(".py"):
            return Path(word).stem
    return Path(command[0]).name or "exec"


def script_env(run_dir: Path, base: dict[str, str] | None = None) -> dict[str, str]:
    """The script's environment: `base` (default: ours) plus the variables `init` reads."""
    env = dict(os.environ if base is None else base)
    env[RUN_DIR_ENV] = str(run_dir)
    env[EXEC_ENV] = "1"
    env.setdefault("PYTHONUNBUFFERED", "1")  # output reaches output.log as it is printed
    return env


@dataclass
class Script:
    """A started script: its process, its run directory and its command line."""

    proc: subprocess.Popen[bytes]
    run_dir: Path
    command: list[str]

    @property
    def log(self) -> Path:
        """The file the script's stdout and stderr go to."""
        return self.run_dir / OUTPUT_LOG

    def poll(self) -> int | None:
        """The script's exit code once it has ended, else None."""
        return self.proc.poll()

    def terminate(self, sig: int = signal.SIGTERM) -> None:
        """Send `sig` to the script's process group (its own session)."""
        with contextlib.suppress(OSError):
            os.killpg(self.proc.pid, sig)


def start_script(command: list[str], out: str, name: str | None = None) -> Script:
    """Create the run directory (holding only output.log) and start `command` in it.

    A command that cannot be started is a `UserError` (exit 2) and leaves no directory behind.
    """
    if not command:
        raise UserError("exec: expected a command after '--' (tui-trainer exec -- python train.py)")
    run_dir = create_run_dir(out, name or default_name(command))
    log = run_dir / OUTPUT_LOG
    try:
        with open(log, "ab") as out_file, open(os.devnull, "rb") as stdin:
            proc = subprocess.Popen(
                command,
                stdin=stdin,
                stdout=out_file,
                stderr=subprocess.STDOUT,
                env=script_env(run_dir),
                start_new_session=True,  # setsid: the terminal's hang-up never reaches it
            )
    except OSError as exc:
        log.unlink(missing_ok=True)
        with contextlib.suppress(OSError):
            run_dir.rmdir()
        raise UserError(f"exec: cannot start '{command[0]}': {exc.strerror or exc}") from None
    return Script(proc, run_dir, list(command))


class LogTail:
    """Reads a growing file's new complete lines (non-blocking: each `read` returns at once)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._offset = 0
        self._partial = b""

    def read(self, final: bool = False) -> list[str]:
        """The lines written since the last call; `final`: a last line without its newline too."""
        try:
            with open(self.path, "rb") as f:
                f.seek(self._offset)
                data = f.read(1 << 20)
        except OSError:
            data = b""
        self._offset += len(data)
        data = self._partial + data
        *lines, self._partial = data.split(b"\n")
        if final and self._partial:
            lines.append(self._partial)
            self._partial = b""
        return [line.decode("utf-8", "replace").rstrip("\r") for line in lines]


def follow(script: Script, interval: float = 0.1) -> Iterator[str]:
    """The script's output lines as they come, until it has ended and all is read."""
    tail = LogTail(script.log)
    while script.poll() is None:
        yield from tail.read()
        time.sleep(interval)
    yield from tail.read(final=True)


def run_headless(script: Script, write: Callable[[str], None] | None = None) -> int:
    """Print the script's output as it comes and return its exit code. Ctrl-C and SIGTERM
    reach the script (which checkpoints and ends, as our runs do); this process waits for it."""
    emit = write or (lambda line: print(line, flush=True))

    def forward(signum: int, _frame: object) -> None:
        script.terminate(signum)

    previous = {s: signal.signal(s, forward) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        for line in follow(script):
            emit(line)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return exit_code(script.proc.returncode)


def exit_code(returncode: int | None) -> int:
    """A process exit code from Popen's: 128+N for a script killed by signal N."""
    if returncode is None:
        return 0
    return 128 - returncode if returncode < 0 else returncode


def print_started(script: Script) -> None:
    """One line on stderr naming the run directory (stdout carries only the script's output)."""
    print(
        f"tui-trainer exec: {script.run_dir} (pid {script.proc.pid}); output in {script.log}",
        file=sys.stderr,
        flush=True,
    )
