"""tui-trainer: a terminal training console for PyTorch vision models."""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.2.0"

__all__ = ["Run", "__version__", "init"]


def __getattr__(name: str) -> Any:
    """`tui_trainer.init` / `tui_trainer.Run`, imported on first use (importing the package
    stays light: nothing of the script API, torch or the engine loads before that)."""
    if name in ("init", "Run"):
        # imported by name: the package root holds no import edge to the API, so a module
        # that imports a `tui_trainer.*` submodule does not depend on the API (import-linter)
        api = importlib.import_module("tui_trainer.api")
        return getattr(api, name)
    raise AttributeError(f"module 'tui_trainer' has no attribute {name!r}")
