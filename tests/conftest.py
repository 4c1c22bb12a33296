"""Shared fixtures only: a private state folder, a tiny config, a private socket directory.

The helpers tests import live in tests/support/ (`from support.runs import TINY`); the tiers
and the support package are described in tests/README.md.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.runs import TINY

from tui_trainer.config import load_config
from tui_trainer.config.schema import RunConfig


@pytest.fixture(autouse=True)
def console_state(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Path:
    """The console's state folder (last preset used) in a temp dir: tests never touch ~/.local."""
    folder = tmp_path_factory.mktemp("state")
    monkeypatch.setenv("XDG_STATE_HOME", str(folder))
    return folder / "tui-trainer"


@pytest.fixture
def tiny_config(tmp_path: Path) -> RunConfig:
    """The quickstart preset, shortened, writing under tmp_path."""
    config, _ = load_config("quickstart", [*TINY, f"out={tmp_path / 'runs'}"])
    return config


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Everything under tests/e2e/ is `slow` (deselect locally with -m "not slow"; CI runs all)."""
    for item in items:
        if "e2e" in Path(str(item.fspath)).parts:
            item.add_marker(pytest.mark.slow)


@pytest.fixture
def private_runtime(monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A control-socket directory of the test's own ($XDG_RUNTIME_DIR, owner-only), short
    enough for a Unix socket path; removed afterwards."""
    short = Path("/tmp") / f"tt-test-{os.getpid()}-{time.monotonic_ns() % 10**9}"
    short.mkdir(mode=0o700)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(short))
    yield short
    shutil.rmtree(short, ignore_errors=True)
