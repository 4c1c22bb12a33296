"""Finding run directories: root itself, or up to three levels down; one listing per folder."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tui_trainer.runlog.layout import find_run_dirs


def run_dir(path: Path) -> Path:
    path.mkdir(parents=True)
    (path / "config.yaml").write_text("epochs: 1\n")
    (path / "metrics.jsonl").write_text("")
    return path


def test_run_dirs_up_to_three_levels_down_and_root_itself(tmp_path: Path) -> None:
    one = run_dir(tmp_path / "a")
    three = run_dir(tmp_path / "x" / "preset" / "20261201-000000")
    run_dir(tmp_path / "d1" / "d2" / "d3" / "too-deep")
    (tmp_path / "x" / "preset" / "half").mkdir()
    (tmp_path / "x" / "preset" / "half" / "config.yaml").write_text("")  # no metrics.jsonl
    assert find_run_dirs(tmp_path) == [one, three]
    assert find_run_dirs(three) == [three]
    assert find_run_dirs(tmp_path / "missing") == []


def test_nothing_inside_a_run_directory_is_listed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    runs = [run_dir(tmp_path / "p" / f"r{i}") for i in range(5)]
    for run in runs:
        (run / "checkpoints").mkdir()
    listed: list[str] = []
    real = os.scandir

    def scandir(path):
        listed.append(str(path))
        return real(path)

    monkeypatch.setattr(os, "scandir", scandir)
    assert find_run_dirs(tmp_path) == runs
    assert len(listed) == 2 + len(runs)  # root, p and each run once; no checkpoints/
