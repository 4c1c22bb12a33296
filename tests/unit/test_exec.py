"""`tui-trainer exec`: the run directory it picks, the script's environment and session, its
output and exit code (headless), and the command line after `--`."""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

from support.cli import one_line_error

from tui_trainer.cli import main
from tui_trainer.commands.table import BY_NAME
from tui_trainer.script_exec import (
    EXEC_ENV,
    OUTPUT_LOG,
    RUN_DIR_ENV,
    LogTail,
    default_name,
    run_headless,
    start_script,
)


def _py(code: str) -> list[str]:
    return [sys.executable, "-c", code]


def _headless(cmd: list[str], out: Path, name: str = "s") -> tuple[Path, list[str], int]:
    lines: list[str] = []
    script = start_script(cmd, str(out), name)
    code = run_headless(script, lines.append)
    return script.run_dir, lines, code


def test_the_run_directory_is_out_name_timestamp_and_holds_only_output_log(tmp_path):
    script = start_script(_py("import time; time.sleep(0.3)"), str(tmp_path / "runs"), "mine")
    try:
        assert script.run_dir.parent == tmp_path / "runs" / "mine"
        assert [p.name for p in script.run_dir.iterdir()] == [OUTPUT_LOG]
    finally:
        script.proc.wait()


def test_two_execs_at_once_never_share_a_run_directory(tmp_path):
    first = start_script(_py("pass"), str(tmp_path), "same")
    second = start_script(_py("pass"), str(tmp_path), "same")
    first.proc.wait(), second.proc.wait()
    assert first.run_dir != second.run_dir
    assert first.run_dir.parent == second.run_dir.parent


def test_the_script_is_told_its_run_directory_and_that_exec_started_it(tmp_path):
    code = f"import os; print(os.environ['{RUN_DIR_ENV}']); print(os.environ['{EXEC_ENV}'])"
    run_dir, lines, rc = _headless(_py(code), tmp_path)
    assert lines == [str(run_dir), "1"]
    assert rc == 0


def test_the_script_runs_in_a_session_of_its_own(tmp_path):
    """setsid: the terminal's hang-up and Ctrl-C go to exec's session, not the script's."""
    _, lines, _ = _headless(_py("import os; print(os.getsid(0) == os.getpid())"), tmp_path)
    assert lines == ["True"]


def test_stdout_and_stderr_go_to_output_log_and_the_exit_code_is_the_scripts(tmp_path):
    code = "import sys; print('out', flush=True); print('err', file=sys.stderr); sys.exit(3)"
    run_dir, lines, rc = _headless(_py(code), tmp_path)
    assert rc == 3
    assert lines == ["out", "err"]
    assert (run_dir / OUTPUT_LOG).read_text().splitlines() == ["out", "err"]


def test_a_script_killed_by_a_signal_gives_128_plus_n(tmp_path):
    _, _, rc = _headless(_py("import os, signal; os.kill(os.getpid(), signal.SIGKILL)"), tmp_path)
    assert rc == 128 + signal.SIGKILL


def test_a_command_that_cannot_start_is_one_line_exit_2_and_leaves_no_run(tmp_path, capsys):
    out = tmp_path / "runs"
    assert main(["exec", "--out", str(out), "--", str(tmp_path / "no-such-program")]) == 2
    assert "exec: cannot start" in one_line_error(capsys)
    assert not any(p.is_dir() for p in out.rglob("*") if p.parent != out)


def test_exec_without_a_command_is_one_line_exit_2(tmp_path, capsys):
    assert main(["exec", "--out", str(tmp_path)]) == 2
    assert "expected a command after '--'" in one_line_error(capsys)
    assert not list(tmp_path.iterdir())


def test_every_word_after_dashes_is_the_scripts_options_included():
    parser = BY_NAME["exec"].parser()
    args = parser.parse_intermixed_args(
        ["--name", "n", "--", "python", "train.py", "--out", "x", "--", "-v"]
    )
    assert args.name == "n" and args.out == "runs"
    assert args.command == ["python", "train.py", "--out", "x", "--", "-v"]


def test_the_default_name_is_the_scripts_file_name():
    assert default_name(["python", "-u", "path/to/train.py", "--lr", "1"]) == "train"
    assert default_name(["/usr/bin/my-trainer", "--x"]) == "my-trainer"


def test_the_tail_returns_whole_lines_only_until_the_end(tmp_path):
    log = tmp_path / "log"
    tail = LogTail(log)
    assert tail.read() == []  # not there yet
    log.write_bytes(b"one\ntw")
    assert tail.read() == ["one"]
    with open(log, "ab") as f:
        f.write(b"o\r\nthree")
    assert tail.read() == ["two"]
    assert tail.read(final=True) == ["three"]
    assert os.path.getsize(log) == len(b"one\ntwo\r\nthree")
