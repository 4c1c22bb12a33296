"""The docs' "Your own training script" example runs as written (issue 26), so it
cannot rot; it lives in docs/data-tasks.md (it was in README.md before the docs site).

Its `# train.py` block is written to a temp folder and run in its own interpreter (the API
installs signal handlers and an exit hook) with two epochs, in the run directory
`tui-trainer exec` would give it; the directory must read as a completed run with two epoch
lines, a best epoch and the `last.pt` its checkpoint function wrote.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import torch

from tui_trainer.runlog.reader import read_run

ROOT = Path(__file__).resolve().parents[2]
BLOCK = re.compile(r"```python\n(# train\.py\n.*?)```", re.S)


def script_block() -> str:
    """The `# train.py` block of docs/data-tasks.md's "## Your own training script" section."""
    text = (ROOT / "docs" / "data-tasks.md").read_text()
    start = text.index("\n## Your own training script\n")
    end = text.find("\n## ", start + 1)
    end = len(text) if end < 0 else end  # the last section runs to the end
    found = BLOCK.search(text[start:end])
    assert found, "the section has no `# train.py` python block"
    return found.group(1)


def test_the_readme_script_runs_and_leaves_a_run_directory(tmp_path: Path) -> None:
    (tmp_path / "train.py").write_text(script_block())
    run_dir = tmp_path / "runs" / "mlp-baseline" / "exec"
    env = {**os.environ, "TUI_TRAINER_RUN_DIR": str(run_dir)}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    done = subprocess.run(
        [sys.executable, "train.py", "--epochs", "2", "--lr", "0.05"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    record = read_run(run_dir)
    assert record.status.value == "completed"
    assert len(record.epoch_rows) == 2
    metric, value, epoch = record.best()
    assert metric == "val_loss" and value is not None and epoch in (1, 2)
    assert "0.05" in str(record.config)
    last = torch.load(run_dir / "checkpoints" / "last.pt", weights_only=False)
    assert set(last) == {"model", "optimizer"}
