"""Datasets for the engine: embedded (digits), generated (fake), CIFAR-10 and image folders.

`DataBundle` and `build_data` are loaded on first use, so the torch-free helpers here
(`files`, `split`, `split_plan`) can be imported by `tui-trainer check` without torch.
"""

from __future__ import annotations

from typing import Any

__all__ = ["DataBundle", "build_data"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        if name == "build_data":
            from tui_trainer.engine.data.dispatch import build_data

            return build_data
        from tui_trainer.engine.data.bundle import DataBundle

        return DataBundle
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
