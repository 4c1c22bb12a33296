"""Several processes against one: the environment for spawned ranks and curve equality."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[2]


def env_with_tests(**extra: str) -> dict[str, str]:
    """The environment for a spawned process that imports tests/ (support's data and models)."""
    path = os.pathsep.join(filter(None, [str(ROOT / "tests"), os.environ.get("PYTHONPATH")]))
    return {**os.environ, "PYTHONPATH": path, **extra}


def ddp_env(**extra: str) -> dict[str, str]:
    """The environment for spawned ranks: tests/ importable (support models), one thread each."""
    return env_with_tests(OMP_NUM_THREADS="1", **extra)


def curve(run_dir: Path) -> list[dict]:
    """The per-epoch metrics history in the run's last.pt."""
    state = torch.load(run_dir / "checkpoints" / "last.pt", weights_only=True)
    return state["progress"]["history"]


def assert_same_curve(a: Path, b: Path, tol: float = 2e-3, acc_tol: float = 0.01) -> None:
    """Per-epoch losses agree within `tol`, accuracies within `acc_tol` (a few samples)."""
    la, lb = curve(a), curve(b)
    assert [r["epoch"] for r in la] == [r["epoch"] for r in lb]
    for ra, rb in zip(la, lb, strict=True):
        for key in ("train_loss", "train_accuracy", "val_loss", "val_accuracy", "lr"):
            limit = acc_tol if key.endswith("accuracy") else tol
            assert ra[key] == pytest.approx(rb[key], abs=limit), (key, ra, rb)
