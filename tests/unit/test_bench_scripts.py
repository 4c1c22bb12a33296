"""The benchmark scripts' cheap paths: Lightning absent is one line and exit 0."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.skipif(importlib.util.find_spec("lightning") is not None, reason="Lightning installed")
def test_bench_lightning_without_lightning_says_so_and_exits_0():
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "bench_lightning.py")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.strip().splitlines()
    assert len(lines) == 1 and "Lightning is not installed" in lines[0]


def test_the_benchmarks_tutorial_net_is_the_tutorial_cnn():
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        import torch
        from tutorial_net import Net
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    net = Net(10)
    assert sum(p.numel() for p in net.parameters()) == 62006  # the tutorial's count
    assert net(torch.zeros(2, 3, 32, 32)).shape == (2, 10)
