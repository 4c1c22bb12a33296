"""Checkpoints: atomic writes and safe loads (`torch.load(weights_only=True)`).

A checkpoint is a dict of tensors and plain Python values only, so loading never unpickles
arbitrary objects. `FORMAT_VERSION` grows when the layout changes; newer files are refused.
"""

from __future__ import annotations

import random
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from tui_trainer.atomic import atomic_link, atomic_write, describe_os_error
from tui_trainer.engine import latest
from tui_trainer.engine.load_refusal import load_failure
from tui_trainer.errors import UserError
from tui_trainer.runlog.events import CheckpointSaved, LogMessage

FORMAT = "tui-trainer-checkpoint"
FORMAT_VERSION = 1


def atomic_save(obj: Any, path: Path) -> None:
    """Write `obj` with torch.save atomically (see `tui_trainer.atomic`).

    A crash at any moment leaves `path` either the old or the new complete file. A full disk
    raises the OSError (ENOSPC), the temp file removed and the old file intact. The folder must
    exist: a deleted run directory is not silently recreated.
    """
    atomic_write(Path(path), lambda fh: torch.save(obj, fh))


def not_written(path: Path, exc: OSError) -> str:
    """The warning for a checkpoint that could not be written (the run goes on)."""
    kept = "the previous one is intact" if path.is_file() else "no earlier one exists"
    return f"checkpoint {path} not written: {describe_os_error(exc)} ({kept}); training goes on"


def estimated_bytes(obj: Any) -> int:
    """About how many bytes `torch.save(obj)` writes: every tensor storage once, plus room for
    the pickled structure (no serialisation: this is asked when a save has just failed)."""
    seen: set[tuple[int, int]] = set()
    total = 0
    stack = [obj]
    while stack:
        item = stack.pop()
        if isinstance(item, torch.Tensor):
            storage = item.untyped_storage()
            key = (storage.data_ptr(), storage.nbytes())
            if key not in seen:
                seen.add(key)
                total += storage.nbytes()
        elif isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list | tuple):
            stack.extend(item)
    return total + total // 100 + 64 * 1024


def megabytes(n: float) -> str:
    """`0.3 MB`, `12.5 MB` (decimal megabytes, one decimal)."""
    return f"{max(n, 0) / 1e6:.1f} MB"


FINAL_NAMES = ("last.pt", "best.pt")
"""The checkpoints a finished run must leave current: its weights (and best weights)."""


@dataclass(frozen=True)
class Unsaved:
    """A checkpoint whose latest write failed: why, and the space it needed."""

    path: Path
    reason: str  # `no space left on device`, ...
    needed: int  # bytes this write needed (0: a second name of the same state, a hard link)
    position: tuple[int, int]  # (epochs completed, global step) it would have held


def rng_state(data_generator_state: torch.Tensor | None = None) -> dict[str, Any]:
    """Python, numpy, torch CPU and CUDA RNG states as weights_only-loadable values."""
    np_state = np.random.get_state(legacy=True)
    assert isinstance(np_state, tuple)  # the global RandomState is MT19937: the legacy tuple
    state: dict[str, Any] = {
        "python": random.getstate(),
        "numpy": [np_state[0], torch.from_numpy(np_state[1].copy()), *np_state[2:]],
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }
    if data_generator_state is not None:
        state["data"] = data_generator_state
    return state


def restore_rng_state(state: dict[str, Any]) -> None:
    """Restore what `rng_state` captured."""
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    name, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((name, keys.numpy(), pos, has_gauss, cached))
    torch.set_rng_state(state["torch"])
    if state.get("cuda") and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def load_checkpoint(path: str | Path, key: str = "--resume") -> dict[str, Any]:
    """Load and check a tui-trainer checkpoint; a clear UserError for anything wrong with it.

    `key` names the option the path came from in error messages. A run directory gives its
    newest complete checkpoint (by recorded position, see `engine.latest`): last.pt, or a
    periodic one written after it. For `--resume` the blob's "note" says when another
    checkpoint than last.pt was chosen, or when a newer one exists than the file given.
    """
    path = Path(path)
    note: str | None = None
    if path.is_dir():
        chosen, note = latest.newest(path / "checkpoints")
        if chosen is None:
            last = path / "checkpoints" / "last.pt"
            if not last.is_file():
                raise UserError(
                    f"{key}: '{path}' has no checkpoint (checkpoints/last.pt, step_*.pt or "
                    "epoch_*.pt)"
                )
            chosen = last  # unreadable: the load below says why
        path = chosen
    elif key == "--resume" and path.is_file():
        note = latest.newer_than(path)
    if not path.is_file():
        raise UserError(f"{key}: checkpoint '{path}' not found")
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        why = load_failure(exc)  # never torch's "weights_only=False" advice
        raise UserError(f"{key}: '{path}' is not a readable checkpoint ({why})") from None
    if not isinstance(blob, dict) or blob.get("format") != FORMAT:
        raise UserError(f"{key}: '{path}' is not a tui-trainer checkpoint")
    version = blob.get("version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise UserError(
            f"{key}: '{path}' has checkpoint format {version}; this tui-trainer reads up to "
            f"{FORMAT_VERSION} (upgrade tui-trainer)"
        )
    blob["path"] = str(path)
    if note:
        blob["note"] = note
    return blob


def all_finite(module: torch.nn.Module) -> bool:
    """True when every parameter is finite (one host sync)."""
    flags = [torch.isfinite(p).all() for p in module.parameters()]
    return bool(torch.stack(flags).all()) if flags else True


def state_mismatch(own: dict[str, torch.Tensor], other: dict[str, Any]) -> list[str]:
    """Human-readable differences between a model's state dict and a checkpoint's."""
    out = [f"missing {k}" for k in own if k not in other]
    out += [f"unexpected {k}" for k in other if k not in own]
    out += [
        f"{k} {tuple(other[k].shape)} vs {tuple(v.shape)}"
        for k, v in own.items()
        if k in other and isinstance(other[k], torch.Tensor) and other[k].shape != v.shape
    ]
    return out


def check_architecture(
    model: torch.nn.Module, state: dict[str, Any], key: str = "--resume"
) -> None:
    """UserError naming the first differences when `state` holds another architecture."""
    mismatch = state_mismatch(model.state_dict(), state["model"])
    if mismatch:
        shown = "; ".join(mismatch[:4]) + (
            f" (+{len(mismatch) - 4} more)" if len(mismatch) > 4 else ""
        )
        raise UserError(
            f"{key}: checkpoint '{state.get('path')}' is for another architecture: {shown}"
        )


def convert_position(batch: int, saved: tuple[int, int], now: tuple[int, int]) -> tuple[int, int]:
    """A mid-epoch position saved at (world size, batch size) `saved`, resumed at `now`.

    `batch` counts one rank's micro-batches; the position is kept in samples. Returns the new
    micro-batch count and how many samples of the epoch run again (0 when it divides).
    """
    if saved == now or not batch:
        return batch, 0
    done = batch * saved[0] * saved[1]
    per_batch = now[0] * now[1]
    return done // per_batch, done % per_batch


class Checkpointer:
    """Writes checkpoints under `directory` (rank 0 only) and keeps periodic ones in check.

    `emit` reports every write (CheckpointSaved) or failure (LogMessage); a failed write is
    reported and training goes on. `protect` is never deleted by retention (the checkpoint
    this run resumed from).
    """

    def __init__(
        self,
        directory: Path,
        emit: Callable[[Any], None],
        *,
        is_main: bool = True,
        keep: int = 3,
        protect: str | None = None,
    ) -> None:
        self.directory = directory
        self.emit = emit
        self.is_main = is_main
        self.keep = keep
        self.protect = Path(protect).resolve() if protect else None
        self.segment = time.time()  # stamped into each checkpoint: see `engine.latest`
        self.written: set[str] = set()  # names this run segment wrote
        self.unsaved: dict[str, Unsaved] = {}  # name -> its latest write, when that failed
        self.saved_at: dict[str, tuple[int, int]] = {}  # name -> position of its latest write

    def save(
        self,
        model: torch.nn.Module,
        state: Callable[[], dict[str, Any]],
        reason: str,
        names: list[str],
        position: tuple[int, int],
    ) -> bool:
        """Write `state()` to each name; False if not written. No collective happens here.

        `position` is (epochs completed, global step) for the CheckpointSaved events.
        """
        if not self.is_main:
            return True
        if not all_finite(model):
            self.emit(LogMessage("warning", "checkpoint skipped: the weights are not finite"))
            return False
        blob = {**state(), "segment": self.segment}
        written: Path | None = None
        for i, name in enumerate(names):
            path = self.directory / name
            try:  # the same state under a second name is a hard link: no extra disk space
                if written is None:
                    atomic_save(blob, path)
                else:
                    atomic_link(written, path)
            except OSError as exc:
                self.emit(LogMessage("warning", not_written(path, exc)))
                why = describe_os_error(exc)
                for j, other in enumerate(names[i:]):  # the names after it are not written either
                    needed = estimated_bytes(blob) if written is None and j == 0 else 0
                    self.unsaved[other] = Unsaved(self.directory / other, why, needed, position)
                return False
            written = path
            self.written.add(name)
            self.unsaved.pop(name, None)
            self.saved_at[name] = position
            self.emit(CheckpointSaved(str(path), reason, *position))
        return True

    def missing(self) -> list[Unsaved]:
        """last.pt / best.pt whose latest write failed: the run's weights are not on disk."""
        return [u for name, u in self.unsaved.items() if name in FINAL_NAMES]

    def missing_error(self) -> str | None:
        """The one-line reason a run ends without its weights saved, with the space needed.

        None when every last.pt / best.pt write went through.
        """
        missing = self.missing()
        if not missing:
            return None
        needed = sum(u.needed for u in missing)
        try:
            free = f"{megabytes(shutil.disk_usage(self.directory).free)} free now"
        except OSError:
            free = "free space unknown"
        names = " and ".join(f"checkpoints/{u.path.name}" for u in missing)
        return (
            f"checkpoint not saved: {missing[0].reason}: {names} "
            f"{'need' if len(missing) > 1 else 'needs'} about {megabytes(needed)} free in "
            f"{self.directory} ({free}); {self.on_disk()}"
        )

    def on_disk(self) -> str:
        """What a resume has to go on: the checkpoint that is on disk, or that none is."""
        last = self.directory / "last.pt"
        if "last.pt" not in self.unsaved:
            return "checkpoints/last.pt holds the final weights, best.pt is out of date"
        if last.is_file():
            if "last.pt" in self.saved_at:
                epochs, step = self.saved_at["last.pt"]
                return f"checkpoints/last.pt on disk is older (epoch {epochs}, step {step})"
            return "checkpoints/last.pt on disk is from before this run"
        others = sorted(p.name for p in self.directory.glob("*.pt"))
        if others:
            return f"no checkpoints/last.pt on disk (older: {', '.join(others[-2:])})"
        return "no checkpoint on disk"

    def retain(self, name: str) -> None:
        """After a periodic save: delete all but the newest `keep` of its kind (step_/epoch_).

        What this run segment wrote is newer than any file left by an earlier one: after a
        resume from an older checkpoint, the abandoned line's later files go first.
        """
        if not self.is_main:
            return
        prefix = name.split("_")[0] + "_"
        old = sorted(
            self.directory.glob(f"{prefix}*.pt"), key=lambda p: (p.name in self.written, p.name)
        )
        for path in old[: -self.keep]:
            if self.protect is not None and self.protect == path.resolve():
                continue
            path.unlink(missing_ok=True)
