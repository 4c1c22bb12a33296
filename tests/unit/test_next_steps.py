"""The commands that continue a run, the console's state file, and where they are printed."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from tui_trainer.next_steps import next_step_lines, replay_command, resume_command
from tui_trainer.runlog.events import RunFinished
from tui_trainer.sinks.console import ConsoleSink
from tui_trainer.tui import state
from tui_trainer.tui.exit_lines import print_next_steps


def run_dir_with_checkpoint(root: Path, name: str = "20250101-000000") -> Path:
    run_dir = root / "runs" / "demo" / name
    (run_dir / "checkpoints").mkdir(parents=True)
    (run_dir / "checkpoints" / "last.pt").write_bytes(b"x")
    return run_dir


@pytest.mark.parametrize("status", ["stopped", "interrupted", "failed"])
def test_every_state_that_can_continue_gets_the_exact_resume_command(
    tmp_path: Path, status: str
) -> None:
    run_dir = run_dir_with_checkpoint(tmp_path)
    summary = {"status": status, "run_dir": str(run_dir)}
    assert resume_command(summary) == f"tui-trainer run --resume {run_dir}"
    assert resume_command(summary, console=True) == f"tui-trainer --resume {run_dir}"


def test_a_completed_run_is_extended_and_a_run_without_checkpoint_has_no_resume(
    tmp_path: Path,
) -> None:
    run_dir = run_dir_with_checkpoint(tmp_path)
    done = {"status": "completed", "epochs_completed": 3, "run_dir": str(run_dir)}
    assert resume_command(done) == f"tui-trainer run --resume {run_dir} epochs=13"
    bare = tmp_path / "bare"
    bare.mkdir()
    assert resume_command({"status": "stopped", "run_dir": str(bare)}) is None
    assert resume_command({"status": "stopped"}) is None


def test_paths_with_spaces_are_quoted_for_the_shell(tmp_path: Path) -> None:
    run_dir = run_dir_with_checkpoint(tmp_path / "my runs")
    summary = {"status": "stopped", "run_dir": str(run_dir)}
    assert resume_command(summary) == f"tui-trainer run --resume '{run_dir}'"
    assert replay_command(summary) == f"tui-trainer replay '{run_dir}'"


def test_lines_after_the_console_exits_give_both_resume_commands(tmp_path: Path) -> None:
    run_dir = run_dir_with_checkpoint(tmp_path)
    (run_dir / "traceback.txt").write_text("Traceback (most recent call last):\n")
    summary = {"run_dir": str(run_dir), "traceback": "traceback.txt"}
    out = io.StringIO()
    print_next_steps(RunFinished("failed", summary, ""), out)
    assert out.getvalue().splitlines() == [
        "tui-trainer: run failed",
        f"run directory: {run_dir}",
        f"traceback: {run_dir / 'traceback.txt'}",
        f"resume: tui-trainer --resume {run_dir}",
        f"        or headless: tui-trainer run --resume {run_dir}",
        f"replay: tui-trainer replay {run_dir}",
    ]
    nothing = io.StringIO()
    print_next_steps(None, nothing)
    print_next_steps(RunFinished("failed", {"status": "failed"}, ""), nothing)
    assert nothing.getvalue() == ""


def test_headless_end_lines_name_the_resume_command(tmp_path: Path) -> None:
    run_dir = run_dir_with_checkpoint(tmp_path)
    out = io.StringIO()
    sink = ConsoleSink(out, tty=False)
    sink(RunFinished("interrupted", {"status": "interrupted", "run_dir": str(run_dir)}, ""))
    assert f"resume: tui-trainer run --resume {run_dir}" in out.getvalue().splitlines()
    assert next_step_lines({"status": "interrupted"}) == []


def test_state_file_remembers_the_last_preset_atomically(console_state: Path) -> None:
    assert state.state_dir() == console_state
    assert state.last_preset() is None
    state.remember_preset("shapes-unet")
    assert json.loads((console_state / "console.json").read_text()) == {
        "last_preset": "shapes-unet"
    }
    assert [p.name for p in console_state.iterdir()] == ["console.json"]  # no temp left
    assert state.last_preset() == "shapes-unet"


def test_a_broken_or_unwritable_state_file_means_nothing_remembered(
    console_state: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    console_state.mkdir(parents=True)
    (console_state / "console.json").write_bytes(b"\xff{not json")
    assert state.last_preset() is None
    (console_state / "console.json").write_text('["a list"]')
    assert state.last_preset() is None
    blocker = tmp_path / "file"
    blocker.write_text("")
    monkeypatch.setenv("XDG_STATE_HOME", str(blocker))  # a file where a folder should be
    state.remember_preset("quickstart")  # no error: the console still starts runs
    assert state.last_preset() is None


def test_state_dir_follows_xdg_and_falls_back_to_home(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", "relative/ignored")  # the spec: absolute paths only
    monkeypatch.setenv("HOME", str(tmp_path))
    assert state.state_dir() == tmp_path / ".local" / "state" / "tui-trainer"
