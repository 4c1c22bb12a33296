"""Shared fixtures: tiny, fast configs and helpers to read run directories."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tui_trainer.config import load_config
from tui_trainer.config.schema import RunConfig

# Small enough that a whole run takes well under a second on 2 CPU cores.
TINY = ["epochs=2", "data.batch_size=64", "device=cpu", "progress.interval=0.01"]


@pytest.fixture
def tiny_config(tmp_path: Path) -> RunConfig:
    """The quickstart preset, shortened, writing under tmp_path."""
    config, _ = load_config("quickstart", [*TINY, f"out={tmp_path / 'runs'}"])
    return config


def only_run_dir(root: Path) -> Path:
    """The single run directory under a runs root."""
    dirs = [p for p in root.glob("*/*") if p.is_dir()]
    assert len(dirs) == 1, dirs
    return dirs[0]


def epoch_lines(run_dir: Path) -> list[dict]:
    """The `"event": "epoch"` records of metrics.jsonl."""
    lines = (run_dir / "metrics.jsonl").read_text().splitlines()
    return [r for r in map(json.loads, lines) if r["event"] == "epoch"]
