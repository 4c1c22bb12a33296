"""torchrun's restarts: the restarted workers continue the run directory of the first attempt.

Under `torchrun --max-restarts=N` (`run --nproc K --max-restarts N`), a worker that dies makes
torchrun stop every worker and start them all again, with TORCHELASTIC_RESTART_COUNT one
higher. With `--run-dir` the restarted workers find their directory by themselves. Without it,
rank 0 of an attempt leaves a pointer to the run directory it created (`remember`) in this
user's private runtime folder (`remote.endpoint.runtime_dir()`), under a name made of
TORCHELASTIC_RUN_ID, the host and the torchrun agent's pid (the workers' parent, the same for
every attempt of this job and different for any other job), and a restarted attempt continues
the directory it names (`recall`), exactly as `--run-dir` would. Several nodes keep no common
runtime folder: give those `--run-dir` on a shared file system.

A pointer is removed once the run ends completed or stopped (`forget`); pointers older than a
week are removed by the next run that writes one. No torch here.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import socket
import time
from collections.abc import Mapping
from pathlib import Path

from tui_trainer.atomic import atomic_write_text

STALE_SECONDS = 7 * 24 * 3600
PREFIX = "restart-"


def attempt(env: Mapping[str, str]) -> int:
    """Which attempt of a torchrun job this is: 0 the first, k after k restarts."""
    try:
        return max(int(env.get("TORCHELASTIC_RESTART_COUNT", "0")), 0)
    except ValueError:
        return 0


def may_restart(env: Mapping[str, str]) -> bool:
    """Whether torchrun may start this job's workers again (`--max-restarts` above 0)."""
    try:
        return (
            bool(env.get("TORCHELASTIC_RUN_ID"))
            and int(env.get("TORCHELASTIC_MAX_RESTARTS", "0")) > 0
        )
    except ValueError:
        return False


def pointer_path(folder: Path, env: Mapping[str, str], agent: int | None = None) -> Path:
    """The pointer file of this torchrun job in `folder` (`agent`: the agent's pid)."""
    pid = os.getppid() if agent is None else agent
    key = f"{env.get('TORCHELASTIC_RUN_ID', '')}\0{socket.gethostname()}\0{pid}"
    return folder / f"{PREFIX}{hashlib.sha256(key.encode()).hexdigest()[:24]}.json"


def remember(folder: Path, env: Mapping[str, str], run_dir: str | Path) -> None:
    """Rank 0: leave the pointer to `run_dir` for a restarted attempt (errors ignored: the
    restart then starts a new run, as without this)."""
    _clean_old(folder)
    payload = json.dumps({"run_dir": str(Path(run_dir).resolve()), "time": time.time()})
    with contextlib.suppress(OSError):
        atomic_write_text(pointer_path(folder, env), payload + "\n")


def recall(folder: Path, env: Mapping[str, str]) -> Path | None:
    """The run directory the first attempt of this job created, or None."""
    try:
        data = json.loads(pointer_path(folder, env).read_text())
        return Path(str(data["run_dir"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def forget(folder: Path, env: Mapping[str, str]) -> None:
    """Remove this job's pointer (the run ended: nothing to restart into)."""
    with contextlib.suppress(OSError):
        pointer_path(folder, env).unlink()


def _clean_old(folder: Path) -> None:
    now = time.time()
    with contextlib.suppress(OSError):
        for path in folder.glob(f"{PREFIX}*.json"):
            with contextlib.suppress(OSError):
                if now - path.stat().st_mtime > STALE_SECONDS:
                    path.unlink()
