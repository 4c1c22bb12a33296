"""`tui-trainer run ... --detach`: start the run in the background, in its own session.

The launching command validates the preset, starts `tui-trainer run ...` (without --detach) in a
new session (no controlling terminal: a closed terminal or SSH connection cannot signal it),
with stdin from /dev/null and its output in a private log file. It then waits until the run
either reports its run directory (the input was good, training starts) or exits (bad input:
its one-line error and exit code 2 are passed on, nothing is left behind). The run moves its
log into `<run_dir>/output.log` when it reports. Under `--nproc` the same happens with the
launcher in the background; rank 0 reports.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from tui_trainer.atomic import PRIVATE_FILE
from tui_trainer.remote.endpoint import runtime_dir
from tui_trainer.runlog.events import Event, RunStarted, Sink

DETACH_ENV = "TUI_TRAINER_DETACHED"
"""Set in a detached run's environment: the token naming its log and report files."""
STALE_SECONDS = 7 * 24 * 3600


def _files(token: str) -> tuple[Path, Path]:
    base = runtime_dir() / "detached"
    return base / f"{token}.log", base / f"{token}.json"


@dataclass(frozen=True)
class Detached:
    """How a background start went: `run_dir` when training started, else its exit code."""

    run_dir: str | None
    pid: int
    code: int
    output: str = ""


def spawn_detached(argv: list[str], wait: float = 600.0) -> Detached:
    """Start `tui-trainer ARGV` in its own session; wait until it reports or exits."""
    token = uuid.uuid4().hex
    log, report = _files(token)
    log.parent.mkdir(mode=0o700, exist_ok=True)
    _clean_old(log.parent)
    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, PRIVATE_FILE)
    with open(fd, "wb") as out:  # private: it becomes the run's output.log
        proc = subprocess.Popen(
            [sys.executable, "-m", "tui_trainer", *argv],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env={**os.environ, DETACH_ENV: token, "PYTHONUNBUFFERED": "1"},
        )
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        if report.exists():
            try:
                info = json.loads(report.read_text())
            except ValueError:  # being written
                time.sleep(0.05)
                continue
            report.unlink(missing_ok=True)
            return Detached(str(info["run_dir"]), proc.pid, 0)
        code = proc.poll()
        if code is not None:  # it ended before training started: pass its verdict on
            try:
                output = log.read_text(errors="replace")
            except OSError:
                output = ""
            log.unlink(missing_ok=True)
            return Detached(None, proc.pid, code, output)
        time.sleep(0.1)
    message = (
        f"tui-trainer: error: the run (pid {proc.pid}) did not start within {wait:g} s; "
        f"its output so far is in {log}\n"
    )
    return Detached(None, proc.pid, 1, message)


def start_detached(argv: list[str]) -> int:
    """`run ... --detach`: start it, print where it went (or its error); the exit code."""
    started = spawn_detached(argv)
    if started.run_dir is None:
        with contextlib.suppress(OSError):
            sys.stderr.write(started.output)
        return started.code
    run_dir = started.run_dir
    print(f"run directory: {run_dir}")
    print(f"watch:         tui-trainer watch {run_dir}")
    print(f"pid:           {started.pid} (output in {run_dir}/output.log)")
    return 0


def _clean_old(folder: Path) -> None:
    """Remove reports and logs of detached starts older than a week (their launcher died)."""
    now = time.time()
    for path in folder.iterdir():
        with contextlib.suppress(OSError):
            if now - path.stat().st_mtime > STALE_SECONDS:
                path.unlink()


class DetachReporter:
    """A sink in a detached run: at `RunStarted`, move the log into the run directory and tell
    the launching command where the run is."""

    def __init__(self, token: str) -> None:
        self.token = token
        self.done = False

    def __call__(self, event: Event) -> None:
        """Report once, at the run's start."""
        if self.done or not isinstance(event, RunStarted) or not event.run_dir:
            return
        self.done = True
        log, report = _files(self.token)
        target = Path(event.run_dir) / "output.log"
        try:
            if target.exists():  # a resumed run: keep the earlier output
                raise FileExistsError(target)
            os.replace(log, target)  # same file system: every process keeps writing to it
        except OSError:
            with contextlib.suppress(OSError):  # append a copy, then write there from now on
                with open(log, "rb") as src, open(target, "ab") as dst:
                    shutil.copyfileobj(src, dst)
                fd = os.open(target, os.O_WRONLY | os.O_APPEND)
                for std in (1, 2):
                    os.dup2(fd, std)
                os.close(fd)
                log.unlink()
        tmp = report.with_suffix(".tmp")
        tmp.write_text(json.dumps({"run_dir": event.run_dir, "pid": os.getpid()}))
        os.replace(tmp, report)
        os.environ.pop(DETACH_ENV, None)


def detached_sinks() -> list[Sink]:
    """[DetachReporter] in a run started by `run --detach`, else []."""
    token = os.environ.get(DETACH_ENV)
    if not token or not token.isalnum():
        return []
    return [DetachReporter(token)]
