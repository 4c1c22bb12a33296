"""Checkpoints: atomic writes and safe loads (`torch.load(weights_only=True)`).

A checkpoint is a dict of tensors and plain Python values only, so loading never unpickles
arbitrary objects. `FORMAT_VERSION` grows when the layout changes; newer files are refused.
"""

from __future__ import annotations

import contextlib
import os
import random
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

from tui_trainer.errors import UserError

FORMAT = "tui-trainer-checkpoint"
FORMAT_VERSION = 1


def atomic_save(obj: Any, path: Path) -> None:
    """Write `obj` with torch.save to a temp file beside `path`, fsync, rename, fsync the dir.

    A crash at any moment leaves `path` either the old or the new complete file.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            torch.save(obj, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def rng_state(data_generator_state: torch.Tensor | None = None) -> dict[str, Any]:
    """Python, numpy, torch CPU and CUDA RNG states as weights_only-loadable values."""
    np_state = np.random.get_state()
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

    `key` names the option the path came from in error messages.
    """
    path = Path(path)
    if path.is_dir():
        candidate = path / "checkpoints" / "last.pt"
        if not candidate.is_file():
            raise UserError(f"{key}: '{path}' has no checkpoints/last.pt")
        path = candidate
    if not path.is_file():
        raise UserError(f"{key}: checkpoint '{path}' not found")
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UserError(f"{key}: '{path}' is not a readable checkpoint ({first})") from None
    if not isinstance(blob, dict) or blob.get("format") != FORMAT:
        raise UserError(f"{key}: '{path}' is not a tui-trainer checkpoint")
    version = blob.get("version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise UserError(
            f"{key}: '{path}' has checkpoint format {version}; this tui-trainer reads up to "
            f"{FORMAT_VERSION} (upgrade tui-trainer)"
        )
    blob["path"] = str(path)
    return blob


def all_finite(module: torch.nn.Module) -> bool:
    """True when every parameter is finite (one host sync)."""
    flags = [torch.isfinite(p).all() for p in module.parameters()]
    return bool(torch.stack(flags).all()) if flags else True
