"""`sweep best SWEEP --save-preset NAME`: the winning trial's config as `presets/NAME.yaml`.

The preset is the winner's resolved config.yaml (what its run trained with, steering included)
without the run's bookkeeping (`notes`, written while resolving; `out`, where the sweep's runs
went), its description naming the sweep and the winning value. An existing preset of that name
is never overwritten (exit 2): the file is linked into place, which fails if the name is taken.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Any

import yaml

from tui_trainer.atomic import fsync_dir
from tui_trainer.config.names import one_line, safe_component
from tui_trainer.config.resolve import PRESET_SUFFIXES, local_presets_dir
from tui_trainer.errors import UserError
from tui_trainer.queue.store import QueueStore
from tui_trainer.runlog.reader import read_config
from tui_trainer.sweep.leaderboard import Row, leaderboard

BOOKKEEPING = ("notes", "out")
"""Keys of a run's config.yaml that describe that run, not how to train."""


def preset_text(row: Row, sweep: str, config: dict[str, Any]) -> str:
    """The preset file's text for the winning `row` of `sweep` (its run's `config`)."""
    data = {k: v for k, v in config.items() if k not in BOOKKEEPING}
    shown = f"{row.metric} {row.value:.6g} at epoch {row.best_epoch}"
    data["description"] = f"best of sweep {sweep}: {shown} ({' '.join(row.overrides)})"
    header = (
        f"# tui-trainer: the best trial of sweep {one_line(sweep)} ({one_line(shown)}).\n"
        f"# From the run {one_line(str(row.run_dir))}\n"
    )
    return header + yaml.safe_dump(data, sort_keys=False, default_flow_style=None, width=1000)


def check_name(name: str) -> str:
    """A preset NAME for `presets/NAME.yaml`: a plain file name without its suffix."""
    stem = name[: -len(suffix)] if (suffix := Path(name).suffix) in PRESET_SUFFIXES else name
    if not stem or safe_component(stem) != stem or stem.startswith("-"):
        raise UserError(
            f"expected a plain preset name (letters, digits, - and _), got {name!r}",
            key="--save-preset",
        )
    return stem


def save_best(store: QueueStore, sweep: str, name: str, folder: Path | None = None) -> Path:
    """Write the winner of `sweep` as `folder/NAME.yaml` (default `./presets`); its path.

    UserError (nothing written) when the name is taken, the sweep has no trial with a value
    yet, or the winner's config cannot be read.
    """
    stem = check_name(name)
    folder = local_presets_dir() if folder is None else folder
    for suffix in PRESET_SUFFIXES:
        taken = folder / f"{stem}{suffix}"
        if taken.exists() or taken.is_symlink():
            raise UserError(
                f"{taken} exists; pick another name (a preset is never overwritten)",
                key="--save-preset",
            )
    rows = leaderboard(store, sweep)
    winner = next((r for r in rows if r.best), None)
    if winner is None or winner.run_dir is None:
        metric = store.sweep(sweep).monitor
        raise UserError(f"sweep {sweep}: no trial has a {metric} value yet")
    config = read_config(Path(winner.run_dir))
    text = preset_text(winner, sweep, config)
    path = folder / f"{stem}.yaml"
    _create(path, text.encode("utf-8"))
    return path


def _create(path: Path, data: bytes) -> None:
    """Write `path` complete or not at all, and never over an existing file."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"cannot create {path.parent}: {exc.strerror or exc}") from None
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o666)  # umask
        try:
            os.write(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.link(tmp, path)  # fails if the name was taken meanwhile: nothing overwritten
    except FileExistsError:
        raise UserError(
            f"{path} exists; pick another name (a preset is never overwritten)",
            key="--save-preset",
        ) from None
    except OSError as exc:
        raise UserError(f"cannot write {path}: {exc.strerror or exc}") from None
    finally:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
    fsync_dir(path.parent)
