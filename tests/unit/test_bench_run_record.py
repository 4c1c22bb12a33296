"""`benchmarks/bench_run_record.py` at a reduced scale, so that it cannot rot: it generates run
folders and a long run (large enough for the windowed read), measures each reader in its own
process, and reports seconds and peak memory for all four."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_bench_run_record_runs_at_a_small_scale() -> None:
    done = subprocess.run(
        [
            sys.executable,
            str(ROOT / "benchmarks" / "bench_run_record.py"),
            "--runs",
            "12",
            "--records",
            "30000",
            "--idle-seconds",
            "2",
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    results = report["results"]
    assert set(results) == {
        "runs --json",
        "runs browser (first screen)",
        "compare LONG SHORT (piped)",
        "watch history load",
        "runs browser idle",
    }
    assert 0 <= results.pop("runs browser idle")["cpu_percent"] < 100
    for name, figures in results.items():
        assert figures["seconds"] > 0 and figures["peak_mb"] > 0, name
        assert figures["output_bytes"] > 0, name  # each printed its result
