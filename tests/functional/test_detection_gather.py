"""Detection metrics across processes: a 2-process gloo group computes the whole set's numbers on
every rank, and importing the evaluator does not load the COCO library (only `compute` does)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.multiprocessing as mp
from support.detmetrics import NAMES, NUM_CLASSES, fixed_set, gather_worker, to_batch

from tui_trainer.engine.tasks.detection.metrics import DetectionEvaluator


def test_two_ranks_compute_the_single_process_numbers(tmp_path: Path) -> None:
    images = fixed_set()
    single = DetectionEvaluator(NUM_CLASSES, torch.device("cpu"))
    outputs, targets = to_batch(images)
    single.update(outputs, targets)
    expected = single.compute()
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    mp.spawn(gather_worker, args=(2, str(tmp_path / "init"), str(tmp_path)), nprocs=2, join=True)
    results = [json.loads((tmp_path / f"{r}.json").read_text()) for r in range(2)]
    for got in results:
        assert got["metrics"] == pytest.approx(expected, abs=1e-12)
        assert got["details"] == json.loads(json.dumps(single.details(NAMES)))


def test_importing_the_evaluator_leaves_the_coco_library_unloaded() -> None:
    code = (
        "import sys\n"
        "import tui_trainer.engine.tasks.detection.metrics\n"
        "assert 'faster_coco_eval' not in sys.modules, 'loaded at import'\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
