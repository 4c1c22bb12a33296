"""Things a preset may name as `model.name=support.pycode_targets:NAME` that are not usable models.

Calling any of them leaves a marker file (the path in $TUI_TRAINER_TEST_MARKER), so tests can
assert they were refused *before* being called.
"""

from __future__ import annotations

import os
from pathlib import Path

from torch import nn


def _mark(what: str) -> None:
    path = os.environ.get("TUI_TRAINER_TEST_MARKER")
    if path:
        Path(path).write_text(what)


def make_model(num_classes: int = 10, in_channels: int = 1) -> nn.Module:
    """A plain function that builds a model: not a class, so refused unseen."""
    _mark("make_model called")
    return nn.Linear(4, num_classes)


class NotAModule:
    """A class, but not an nn.Module."""

    def __init__(self, num_classes: int = 10) -> None:
        _mark("NotAModule called")


INSTANCE = nn.Linear(4, 2)  # an instance, not a class


class Picky(nn.Module):
    """A real model whose constructor refuses the wrong kwargs (a list of the wrong length)."""

    def __init__(self, num_classes: int = 10, in_channels: int = 1, widths=(8, 16)) -> None:
        super().__init__()
        first, second = widths
        self.body = nn.Sequential(nn.Flatten(), nn.Linear(64 * in_channels, first), nn.ReLU())
        self.mid = nn.Linear(first, second)
        self.head = nn.Linear(second, num_classes)


class Broken(nn.Module):
    """A model whose constructor fails on its own (no kwargs involved)."""

    def __init__(self, num_classes: int = 10) -> None:
        super().__init__()
        raise RuntimeError("the model's own bug")
