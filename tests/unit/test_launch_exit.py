"""`run --nproc N` exits with rank 0's code, or another rank's when torchrun stopped rank 0
before it could write one (every rank refuses bad input; whichever ends first, torchrun SIGTERMs
the rest and itself says only 1)."""

from __future__ import annotations

from pathlib import Path

from tui_trainer.launch import _exit_code


def test_rank_0s_code_wins(tmp_path: Path) -> None:
    (tmp_path / "exit-code").write_text("0")
    (tmp_path / "exit-code.rank1").write_text("2")
    assert _exit_code(tmp_path / "exit-code", 1) == 0


def test_another_ranks_code_when_rank_0_was_stopped_first(tmp_path: Path) -> None:
    (tmp_path / "exit-code.rank1").write_text("2")
    assert _exit_code(tmp_path / "exit-code", 1) == 2


def test_torchruns_own_code_when_no_rank_said(tmp_path: Path) -> None:
    assert _exit_code(tmp_path / "exit-code", 1) == 1
    assert _exit_code(tmp_path / "exit-code", -15) == 1
    assert _exit_code(tmp_path / "exit-code", 0) == 0
