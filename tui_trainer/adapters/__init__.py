"""Adapters that map other training loops onto `tui_trainer.init` (optional extras).

`tui_trainer.adapters.lightning.TuiTrainerCallback` (extra `[lightning]`) and
`tui_trainer.adapters.hf.TuiTrainerCallback` (extra `[hf]`). Importing this package imports
neither library; each module says in one line which extra to install when its library is absent.
"""

from __future__ import annotations

import importlib
from types import ModuleType


def require(module: str, extra: str) -> ModuleType:
    """Import `module`, or raise ImportError with the one line that says how to get it."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise ImportError(
            f"tui_trainer.adapters.{extra} needs {module}: pip install 'tui-trainer[{extra}]'"
        ) from exc
