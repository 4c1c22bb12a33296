"""The GPU proof kit dry-runs on a CPU machine: arguments, tools, helper scripts."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
KIT = ROOT / "benchmarks" / "gpu_proof.sh"


def _kit(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHON": sys.executable, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        ["bash", str(KIT), *args], capture_output=True, text=True, env=env, timeout=240
    )


@pytest.mark.skipif(shutil.which("tmux") is None, reason="the kit needs tmux")
def test_dry_run_checks_everything_and_writes_one_results_file(tmp_path):
    out = tmp_path / "results" / "proof.txt"
    done = _kit("--dry-run", "--out", str(out))
    assert done.returncode == 0, done.stdout + done.stderr
    text = out.read_text()
    assert "dry run: plan" in text
    for helper in ("gpu_precision dry run", "gpu_sync_check dry run", "gpu_nccl_check dry run"):
        assert helper in text
    assert "fp16+channels_last+compile" in text
    assert "FAIL" not in text and text.count("PASS") >= 2
    assert list(out.parent.iterdir()) == [out]  # one file, nothing else


def test_bad_arguments_exit_2_and_write_nothing(tmp_path):
    bad = _kit("--frobnicate", "--out", str(tmp_path / "r.txt"))
    assert bad.returncode == 2 and "unknown argument '--frobnicate'" in bad.stderr
    missing = _kit("--out")
    assert missing.returncode == 2 and "--out needs a file name" in missing.stderr
    assert not list(tmp_path.iterdir())


def test_existing_results_are_never_overwritten(tmp_path):
    out = tmp_path / "r.txt"
    out.write_text("earlier figures\n")
    done = _kit("--dry-run", "--out", str(out))
    assert done.returncode == 2 and "never overwritten" in done.stderr
    assert out.read_text() == "earlier figures\n"


@pytest.mark.skipif(shutil.which("nvidia-smi") is not None, reason="a GPU machine")
def test_a_real_run_without_a_gpu_refuses_clearly(tmp_path):
    done = _kit("--out", str(tmp_path / "r.txt"))
    assert done.returncode == 2 and "nvidia-smi not found" in done.stderr
    assert not (tmp_path / "r.txt").exists()
