"""The unit tier does not train: a test here that starts the engine's loop fails at once.

A test that needs a real (tiny) run belongs in tests/functional (tests/README.md).
"""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def no_training(monkeypatch: pytest.MonkeyPatch) -> None:
    """`Trainer.run` (every in-process run goes through it) raises in unit tests."""
    from tui_trainer.engine.loop import Trainer

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("unit tests do not train: move this test to tests/functional")

    monkeypatch.setattr(Trainer, "run", refuse)
