"""`tui-trainer run ... --nproc N`: start N training processes through torchrun.

This module imports neither torch nor the engine, so the launching process stays light; the
workers are ordinary `python -m tui_trainer run ...` processes under torchrun (see headless.py).
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

from tui_trainer.errors import UserError
from tui_trainer.terminal import detach_from_terminal

EXIT_FILE_ENV = "TUI_TRAINER_EXIT_FILE"  # where rank 0 writes its exit code for `launch`
FORWARDED = [signal.SIGTERM] + ([signal.SIGHUP] if hasattr(signal, "SIGHUP") else [])


def run_argv(
    preset: str | None,
    overrides: list[str],
    *,
    out: str | None,
    resume: str | None,
    run_dir: str | None = None,
) -> list[str]:
    """The worker command line (`run ...` without --nproc)."""
    argv = ["run", *([preset] if preset else []), *overrides]
    argv += [*(["--resume", resume] if resume else []), *(["--out", out] if out else [])]
    return [*argv, *(["--run-dir", run_dir] if run_dir else [])]


def free_port() -> int:
    """A TCP port nobody listens on right now (rank 0 binds it a moment later)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def torchrun_command(nproc: int, argv: list[str]) -> list[str]:
    """`python -m torch.distributed.run` for `nproc` local ranks of `tui_trainer ARGV`."""
    return [
        sys.executable,
        "-m",
        "torch.distributed.run",
        f"--nproc_per_node={nproc}",
        "--master-addr=127.0.0.1",
        f"--master-port={free_port()}",
        "-m",
        "tui_trainer",
        *argv,
    ]


def launch(nproc: int, argv: list[str], on_hangup: str = "continue") -> int:
    """`tui-trainer run ... --nproc N`: run `tui-trainer ARGV` in N processes through torchrun.

    One machine (use torchrun directly for several). Returns rank 0's exit code (torchrun
    itself only says 0 or 1). torchrun runs in its own session, so the terminal's signals reach
    this launcher only, which passes them on: Ctrl-C to every process (as the terminal would),
    SIGTERM to torchrun (which forwards it to the workers). A hang-up (SIGHUP) goes to torchrun
    too with `on_hangup=stop`; with `continue` (the default) torchrun never sees it (it would
    stop the workers): the workers get it and carry on without the terminal, as one process does.
    """
    if nproc < 1:
        raise UserError(f"--nproc: expected a number of processes >= 1, got {nproc}")
    with tempfile.TemporaryDirectory(prefix="tui-trainer-") as tmp:
        exit_file = Path(tmp) / "exit-code"
        cmd = torchrun_command(nproc, argv)
        env = {**os.environ, EXIT_FILE_ENV: str(exit_file)}
        proc = subprocess.Popen(cmd, env=env, start_new_session=True)

        def forward(signum: int, _frame: object) -> None:
            with contextlib.suppress(OSError):
                if signum == signal.SIGINT:
                    os.killpg(proc.pid, signal.SIGINT)
                elif signum == getattr(signal, "SIGHUP", None) and on_hangup == "continue":
                    _hang_up_workers(proc.pid)
                else:
                    proc.send_signal(signum)

        previous = {s: signal.signal(s, forward) for s in [*FORWARDED, signal.SIGINT]}
        try:
            rc = proc.wait()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        return _exit_code(exit_file, rc)


def _exit_code(exit_file: Path, rc: int) -> int:
    """Rank 0's exit code; when torchrun stopped it before it could say (another rank ended
    first: every rank refuses bad input), the code another rank left; else torchrun's own."""
    for path in [exit_file, *sorted(exit_file.parent.glob(f"{exit_file.name}.rank*"))]:
        try:
            return int(path.read_text())
        except (OSError, ValueError):
            continue
    return rc if rc > 0 else (1 if rc else 0)


def _hang_up_workers(torchrun_pid: int) -> None:
    """The terminal went away: leave it here (output to a file or pipe stays), and tell each
    worker (not torchrun) so."""
    detach_from_terminal()
    import psutil

    with contextlib.suppress(psutil.Error):
        for worker in psutil.Process(torchrun_pid).children():
            with contextlib.suppress(psutil.Error):
                worker.send_signal(signal.SIGHUP)
