"""`tui-trainer run PRESET --run-dir DIR`: what a run does with exactly that directory.

A scheduler (Slurm's requeue, torchrun's restarts, a queue) resubmits the same command; the
directory decides whether it starts or continues. `choose` reads DIR and changes nothing (rank 0
of a multi-process run calls it; every rank gets its answer, see `session`). In this order:

1. DIR does not exist, or is an empty folder (a `.lock` alone counts as empty): a new run
   there (`rundir.claim_exact` creates it private, 0700, and locks it).
2. A live process writes DIR: `RunDirBusy` (exit 2).
3. DIR is not empty and holds no config.yaml: refused, it is not a run directory.
4. Its summary.json says `completed` or `stopped`: refused, the run is finished (train it
   further with `--resume DIR epochs=N`).
5. Its config.yaml is not the same config as PRESET + overrides (`config_difference`): refused,
   naming the first key that differs.
6. It holds no readable checkpoint: refused, nothing to continue from.
7. Otherwise (no summary: the process was killed; `interrupted`; `failed` with a checkpoint):
   continue it exactly as `--resume DIR` does, with the config.yaml saved there, so steering
   recorded in it is kept.

"The same config" compares the saved config.yaml with the requested config after the changes a
run makes to it before writing config.yaml (precision fallback, a user metric's
`checkpoint.mode`), leaf by leaf, except what a run changes while it trains:
- `notes`: the run appends facts (the data split, fallbacks, process counts);
- `steering`: live steering inserts entries; the requested entries must appear in the saved
  list in the same order (a preset's own scheduled changes are part of the config);
- `out`: where new run directories go; `--run-dir` names the directory itself;
- with `oom: reduce`, `data.batch_size`, `freeze.batch_size` and `accumulate`: a reduction
  halves the batch sizes and doubles `accumulate`; the effective batch must be the same;
- keys only one side has (a config.yaml written by another version).
Everything else (`epochs` included: steering's `epochs=N` is a `steering` entry, not a new
`epochs`) must be equal. A resume with changed overrides (`--resume DIR epochs=20`) makes the
saved config differ on purpose: give the same overrides to `--run-dir` afterwards.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from tui_trainer.config.loader import load_config
from tui_trainer.config.schema import RunConfig
from tui_trainer.engine.latest import newest
from tui_trainer.errors import UserError
from tui_trainer.rundir import LOCK_NAME, busy_error, holder_info
from tui_trainer.runlog import CONFIG, Damaged, read_config, read_summary
from tui_trainer.sinks.files import Key, flatten

KEY = "--run-dir"
FINISHED = ("completed", "stopped")
BOOKKEEPING: frozenset[Key] = frozenset({("notes",), ("steering",), ("out",)})
REDUCED: tuple[Key, ...] = (("data", "batch_size"), ("freeze", "batch_size"), ("accumulate",))


@dataclass(frozen=True)
class RunTarget:
    """What `--run-dir` does: start a new run in `path`, or continue the run there."""

    kind: Literal["new", "continue"]
    path: Path
    config: RunConfig | None = None  # the saved config a continued run trains with
    note: str = ""  # one line for the run's log

    @property
    def resume(self) -> bool:
        """Whether the run in `path` is continued."""
        return self.kind == "continue"


def _refuse(path: Path, why: str) -> UserError:
    return UserError(f"'{path}' {why}", key=KEY)


def is_empty(path: Path) -> bool:
    """A folder holding nothing but (maybe) a run directory's lock file."""
    try:
        return all(name == LOCK_NAME for name in os.listdir(path))
    except OSError:
        return False


def choose(path: str | Path, requested: RunConfig) -> RunTarget:
    """Decide what `run --run-dir PATH` does for the `requested` config (module docstring).

    Reads only. Raises `RunDirBusy` when a live process writes PATH, and a one-line
    `UserError` naming PATH and the reason when the run there cannot be continued.
    """
    path = Path(path)
    if not path.exists() and not path.is_symlink():
        return RunTarget("new", path, note=f"{KEY}: a new run in {path}")
    if not path.is_dir():
        raise _refuse(path, "is not a folder (expected a run directory or an empty folder)")
    live = holder_info(path)
    if live is not None:
        raise busy_error(path, live)
    if is_empty(path):
        return RunTarget("new", path, note=f"{KEY}: a new run in the empty folder {path}")
    if not (path / CONFIG).is_file():
        raise _refuse(
            path,
            f"is not empty and not a run directory (no {CONFIG}); give an empty or new folder",
        )
    try:
        summary = read_summary(path)
        saved = read_config(path)
    except Damaged as exc:
        raise _refuse(path, f"cannot be continued: {exc}") from None
    status = summary.get("status") if summary is not None else None
    if status in FINISHED:
        raise _refuse(
            path,
            f"holds a finished run (status {status}); nothing to continue. Train it further "
            f"with: tui-trainer run --resume {path} epochs=N, or give another {KEY}",
        )
    difference = config_difference(saved, requested.model_dump(mode="json"))
    if difference is not None:
        raise _refuse(
            path,
            f"holds a run of another config ({difference}); give the same preset and "
            f"overrides, or another {KEY}",
        )
    checkpoint, _ = newest(path / "checkpoints")
    if checkpoint is None:
        ended = f"status {status}" if status else "no summary: its process died"
        raise _refuse(
            path, f"holds a run with no checkpoint to continue from ({ended}); give another {KEY}"
        )
    config, _ = load_config(path / CONFIG, [])
    how = f"status {status}" if status else "its process died"
    return RunTarget("continue", path, config, f"{KEY}: continuing the run in {path} ({how})")


def config_difference(saved: dict[str, Any], requested: dict[str, Any]) -> str | None:
    """The first difference between a saved config.yaml and a requested config that makes
    them different configs (`key: A there, B now`), or None (the rule: module docstring)."""
    old, new = flatten(saved), flatten(requested)
    shared = sorted(old.keys() & new.keys())
    reducible = new.get(("oom",)) == "reduce" and old.get(("oom",)) == "reduce"
    for key in shared:
        if key in BOOKKEEPING or (reducible and key in REDUCED):
            continue
        if old[key] != new[key]:
            return _shown(key, old[key], new[key])
    if not _in_order(new.get(("steering",)) or [], old.get(("steering",)) or []):
        return "steering: the requested entries are not in the saved list"
    if reducible:
        for size in (("data", "batch_size"), ("freeze", "batch_size")):
            a, b = _times_accumulate(old, size), _times_accumulate(new, size)
            if a != b:
                return f"effective {'.'.join(size)}: {a} there, {b} now"
    return None


def _times_accumulate(config: dict[Key, Any], key: Key) -> Any:
    size = config.get(key)
    return size * config.get(("accumulate",), 1) if isinstance(size, int) else size


def _in_order(wanted: list[Any], saved: list[Any]) -> bool:
    """Each of `wanted` appears in `saved`, in the same order (other entries between)."""
    rest = iter(saved)
    return all(any(entry == have for have in rest) for entry in wanted)


def _shown(key: Key, there: Any, now: Any) -> str:
    return f"{'.'.join(key)}: {there!r} there, {now!r} now"
