"""Where a script's run directory goes, creating and locking it, and its config.yaml.

`tui-trainer exec` sets `TUI_TRAINER_RUN_DIR` to a path that does not exist yet (or that it
created holding only `output.log`, the script's captured output): `init` uses exactly that path
and only records `name`/`out`. Otherwise the directory is `out/<name>/<YYYYmmdd-HHMMSS>` made by
the engine's own `create_run_dir`.

config.yaml holds the user's `config=` under a `script:` section (any keys, any shapes: the
top level keeps the engine's meaning of `epochs`, `checkpoint`, ...), plus `name`, `epochs`
once `run.epochs(n)` tells it, and `checkpoint: {monitor, mode}` so readers pick the same best
epoch as the run did.
"""

from __future__ import annotations

import argparse
import os
import shutil
from collections.abc import Mapping
from dataclasses import asdict, is_dataclass
from pathlib import Path
from typing import Any

from tui_trainer.atomic import PRIVATE_DIR, describe_os_error
from tui_trainer.errors import UserError
from tui_trainer.rundir import RunDirLock, create_run_dir
from tui_trainer.runlog.reader import RunRecord, read_run

RUN_DIR_ENV = "TUI_TRAINER_RUN_DIR"
"""Set by `tui-trainer exec`: the run directory `init` must use."""
EXEC_ENV = "TUI_TRAINER_EXEC"
"""Set to 1 by `tui-trainer exec`."""
EXEC_FILES = frozenset({"output.log"})
"""What `exec` may have put in the run directory before the script called `init`."""


def plain_config(config: Any) -> dict[str, Any]:
    """The user's `config=` as a plain dict (a dict, an argparse Namespace, a dataclass, or
    any object with `__dict__`); values YAML cannot hold become their `str`."""
    if config is None:
        return {}
    if isinstance(config, argparse.Namespace):
        config = vars(config)
    elif is_dataclass(config) and not isinstance(config, type):
        config = asdict(config)
    elif not isinstance(config, Mapping) and hasattr(config, "__dict__"):
        config = {k: v for k, v in vars(config).items() if not k.startswith("_")}
    if not isinstance(config, Mapping):
        raise UserError(
            f"init(config=...): expected a dict, an argparse Namespace or a dataclass, "
            f"got {type(config).__name__}"
        )
    return {str(k): _plain(v) for k, v in config.items()}


def _plain(value: Any) -> Any:
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return str(value)


def claim_run_dir(name: str, out: str | Path) -> tuple[Path, RunDirLock]:
    """Create (or adopt exec's) run directory and lock it; UserError, nothing left, on failure."""
    target = os.environ.get(RUN_DIR_ENV)
    if target:
        run_dir = Path(target)
        fresh = _adopt(run_dir)
    else:
        run_dir, fresh = create_run_dir(out, name), True
    try:
        lock = RunDirLock.acquire(run_dir)
        (run_dir / "checkpoints").mkdir(mode=PRIVATE_DIR, exist_ok=True)
    except BaseException:
        if fresh:
            shutil.rmtree(run_dir, ignore_errors=True)
        raise
    return run_dir, lock


def _adopt(run_dir: Path) -> bool:
    """Make exec's run directory, or accept it when it holds only exec's files; True when
    this call created it."""
    try:
        run_dir.mkdir(mode=PRIVATE_DIR, parents=True)
        return True
    except FileExistsError:
        pass
    except OSError as exc:
        raise UserError(
            f"{RUN_DIR_ENV}: cannot create the run directory {run_dir}: {describe_os_error(exc)}"
        ) from None
    if not run_dir.is_dir():
        raise UserError(f"{RUN_DIR_ENV}: {run_dir} is a file (expected a new run directory)")
    extra = sorted(p.name for p in run_dir.iterdir() if p.name not in EXEC_FILES)
    if extra:
        raise UserError(
            f"{RUN_DIR_ENV}: {run_dir} already holds {', '.join(extra[:3])} "
            "(expected a new run directory)"
        )
    return False


def config_document(
    name: str, user: dict[str, Any], *, epochs: int | None, monitor: str, mode: str
) -> dict[str, Any]:
    """What config.yaml holds for a script run (see the module docstring)."""
    doc: dict[str, Any] = {"name": name, "source": "script"}
    if epochs is not None:
        doc["epochs"] = epochs
    doc["checkpoint"] = {"monitor": monitor, "mode": mode}
    doc["script"] = user
    return doc


def reopen_run_dir(resume: str | Path) -> tuple[Path, RunDirLock, RunRecord]:
    """Lock a script run's directory to continue it (`init(resume=RUN_DIR)`) and read what it
    did so far; UserError (nothing written) when it is not a script run or a live one."""
    run_dir = Path(resume)
    if not run_dir.is_dir():
        raise UserError(f"init(resume=...): {run_dir} is not a run directory")
    lock = RunDirLock.acquire(run_dir)  # RunDirBusy while another process writes it
    try:
        record = read_run(run_dir, strict=False)
        if record.config.get("source") != "script":
            raise UserError(
                f"init(resume=...): {run_dir} was not written by tui_trainer.init "
                "(resume an engine run with `tui-trainer run --resume`)"
            )
    except BaseException:
        lock.release()
        raise
    return run_dir, lock, record


def steps_done(record: RunRecord) -> int:
    """Optimizer steps a run did before (its summary's, else its last progress line's)."""
    step = record.summary.get("global_step") if record.summary else None
    if isinstance(step, int) and not isinstance(step, bool):
        return step
    for row in reversed(record.records):
        if row.get("event") == "step" and isinstance(row.get("global_step"), int):
            return int(row["global_step"])
    return 0
