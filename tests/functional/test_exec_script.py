"""`tui-trainer exec` on scripts that use the Python API (and one that does not): headless
output and exit code, and the run screen attached to the script (Pilot)."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import pytest
from support.exec_scripts import API_SCRIPT, PRINT_SCRIPT, write_script
from support.pilot import NoGpuPanel, run, wait_for, wait_for_epoch

from tui_trainer.cli import main
from tui_trainer.remote.runs import cmd_runs
from tui_trainer.script_exec import NO_INIT_NOTE, OUTPUT_LOG, start_script
from tui_trainer.tui.exec_app import ExecApp, LeaveExec
from tui_trainer.tui.widgets.run_log import RunLog


@pytest.fixture(autouse=True)
def _own_socket_dir_and_cwd(private_runtime: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.chdir(tmp_path)


def _only_run(out: Path) -> Path:
    (run_dir,) = [p for p in out.glob("*/*") if p.is_dir()]
    return run_dir


def test_headless_exec_prints_the_scripts_output_and_leaves_a_run_others_read(tmp_path, capsys):
    script = write_script(tmp_path, "train.py", API_SCRIPT, epochs=2, steps=3, step_s=0)
    out = tmp_path / "runs"
    assert main(["exec", "--out", str(out), "--", sys.executable, str(script)]) == 0
    printed = capsys.readouterr()
    run_dir = _only_run(out)
    assert run_dir.parent.name == "train"  # out/<script name>/<timestamp>
    assert printed.out.splitlines() == [
        f"run dir {run_dir}",
        "epoch 0 done",
        "epoch 1 done",
        "bye",
    ]
    assert str(run_dir) in printed.err  # where it went, on stderr
    assert (run_dir / OUTPUT_LOG).read_text() == printed.out
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["status"] == "completed"
    assert cmd_runs(str(out), True) == 0
    (listed,) = json.loads(capsys.readouterr().out)
    assert listed["status"] == "completed"


def test_headless_exec_exits_with_the_scripts_code(tmp_path, capsys):
    script = write_script(tmp_path, "plain.py", PRINT_SCRIPT, sleep_s=0, code=5)
    assert main(["exec", "--out", "runs", "--", sys.executable, str(script)]) == 5
    assert capsys.readouterr().out.splitlines() == ["hello from the script", "to stderr"]


def _log(app: ExecApp) -> str:
    """The log panel's text (whole lines, not as wrapped on screen)."""
    logs = app.screen.query(RunLog)
    return logs.first().plain_text + "\n" if logs else ""


def _app(tmp_path: Path, text: str, **values: object) -> ExecApp:
    path = write_script(tmp_path, "s.py", text, **values)
    script = start_script([sys.executable, str(path)], str(tmp_path / "runs"), "s")
    return ExecApp(script, gpu_panel=NoGpuPanel)


def test_a_script_without_init_shows_its_output_and_a_note_and_q_exits_with_its_code(tmp_path):
    app = _app(tmp_path, PRINT_SCRIPT, sleep_s=0.2, code=3)

    async def scenario() -> None:
        async with app.run_test(size=(120, 40)) as pilot:
            await wait_for(pilot, lambda: NO_INIT_NOTE in _log(app), timeout=20)
            assert "hello from the script\n" in _log(app)
            assert "to stderr\n" in _log(app)
            assert _log(app).index("to stderr") < _log(app).index(NO_INIT_NOTE)
            assert "code 3" in _log(app)
            await pilot.press("q")
            await wait_for(pilot, lambda: app.return_code is not None)

    run(scenario())
    assert app.return_code == 3


def test_the_run_screen_follows_the_script_and_q_leaves_it_running(tmp_path):
    app = _app(tmp_path, API_SCRIPT, epochs=200, steps=5, step_s=0.2)

    async def scenario() -> None:
        async with app.run_test(size=(120, 40)) as pilot:
            await wait_for_epoch(pilot, 2, 200, timeout=60)
            assert "epoch 0 done" in _log(app)  # the script's own output, in the log panel
            await pilot.press("q")
            await wait_for(pilot, lambda: isinstance(app.screen, LeaveExec))
            await pilot.press("y")
            await wait_for(pilot, lambda: app.return_code is not None)

    try:
        run(scenario())
        assert app.return_code == 0
        assert app.left_running == str(app.script.run_dir)
        time.sleep(0.3)
        assert app.script.poll() is None  # leaving does not stop the script
    finally:
        app.script.terminate()
        app.script.proc.wait(timeout=30)


def test_q_then_stop_stops_the_script_cleanly_and_exits_with_its_code(tmp_path):
    app = _app(tmp_path, API_SCRIPT, epochs=200, steps=5, step_s=0.2)

    async def scenario() -> None:
        async with app.run_test(size=(80, 24)) as pilot:
            await wait_for_epoch(pilot, 2, 200, timeout=60)
            await pilot.press("q")
            await wait_for(pilot, lambda: isinstance(app.screen, LeaveExec))
            await pilot.press("s")
            await wait_for(pilot, lambda: app.return_code is not None, timeout=30)

    try:
        run(scenario())
    finally:
        app.script.terminate()
        app.script.proc.wait(timeout=30)
    assert app.return_code == 0
    summary = json.loads((app.script.run_dir / "summary.json").read_text())
    assert summary["status"] == "stopped"
