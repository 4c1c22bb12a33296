"""tui-trainer: a terminal training console for PyTorch vision models."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from tui_trainer.api import Run, init

__all__ = ["Run", "__version__", "init"]


def __getattr__(name: str) -> Any:
    """`tui_trainer.init` / `tui_trainer.Run`, imported on first use (importing the package
    stays light: nothing of the script API, torch or the engine loads before that)."""
    if name in ("init", "Run"):
        from tui_trainer import api

        return getattr(api, name)
    raise AttributeError(f"module 'tui_trainer' has no attribute {name!r}")
