"""Who can read a run: run directories are 0700 and their files 0600, whatever the umask."""

from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.runs import TINY, run_preset

from tui_trainer.atomic import atomic_write_text
from tui_trainer.remote.detach import spawn_detached


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


@pytest.fixture
def open_umask() -> Iterator[int]:
    """The usual umask of a shared machine (022: new files world-readable by default)."""
    previous = os.umask(0o022)
    try:
        yield 0o022
    finally:
        os.umask(previous)


def test_a_run_directory_and_everything_in_it_is_private(tmp_path, open_umask):
    root = tmp_path / "runs"
    finished, run_dir = run_preset(
        root, ["epochs=2", "checkpoint.every_steps=5", "checkpoint.every_epochs=1"]
    )
    assert finished.status == "completed"
    assert _mode(run_dir) == 0o700
    assert _mode(run_dir / "checkpoints") == 0o700
    files = [p for p in run_dir.rglob("*") if p.is_file()]
    names = {p.name for p in files}
    assert {"config.yaml", "metrics.jsonl", "metrics.csv", "summary.json", ".lock"} <= names
    assert {"last.pt", "best.pt", "epoch_0001.pt"} <= names
    assert any(name.startswith("step_") for name in names)
    assert {p.relative_to(run_dir).as_posix(): _mode(p) for p in files} == {
        p.relative_to(run_dir).as_posix(): 0o600 for p in files
    }
    # The runs root and the preset folder above the run keep the user's umask.
    assert _mode(root) == 0o755 and _mode(run_dir.parent) == 0o755
    assert os.umask(open_umask) == open_umask  # the process umask was never changed


def test_a_resumed_run_keeps_its_files_private(tmp_path, open_umask):
    root = tmp_path / "runs"
    _, run_dir = run_preset(root, ["epochs=1"])
    finished, _ = run_preset(root, ["epochs=2"], resume=run_dir)
    assert finished.status == "completed"
    for path in run_dir.rglob("*"):
        assert _mode(path) == (0o700 if path.is_dir() else 0o600), path


def test_atomic_writes_create_private_files_and_keep_a_replaced_files_mode(tmp_path, open_umask):
    new = tmp_path / "new.txt"
    atomic_write_text(new, "a")
    assert _mode(new) == 0o600
    shared = tmp_path / "shared.txt"
    shared.write_text("old")
    shared.chmod(0o644)  # opened up on purpose: a rewrite keeps that
    atomic_write_text(shared, "new")
    assert _mode(shared) == 0o644 and shared.read_text() == "new"


def test_a_detached_runs_output_log_is_private(tmp_path, open_umask, private_runtime):
    out = tmp_path / "runs"
    started = spawn_detached(["run", "quickstart", *TINY, "epochs=1", "--out", str(out)])
    assert started.run_dir is not None, started.output
    with contextlib.suppress(ChildProcessError):
        os.waitpid(started.pid, 0)
    log = Path(started.run_dir) / "output.log"
    assert log.is_file() and _mode(log) == 0o600
    assert _mode(Path(started.run_dir)) == 0o700
