"""`finish_process` keeps what Python's shutdown would do that matters, and the exit code."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SNIPPET = """
import atexit, sys, threading, time
from pathlib import Path
from tui_trainer.process_exit import finish_process
out = Path(sys.argv[1])
atexit.register(lambda: (out / "atexit").write_text("ran"))
def late():
    time.sleep(0.3)
    (out / "thread").write_text("joined")
threading.Thread(target=late).start()
sys.stdout.write("buffered, no newline")
finish_process(3)
"""


def test_finish_process_joins_runs_atexit_flushes_and_keeps_the_code(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-c", SNIPPET, str(tmp_path)], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 3, proc.stderr
    assert proc.stdout == "buffered, no newline"
    assert (tmp_path / "thread").read_text() == "joined"
    assert (tmp_path / "atexit").read_text() == "ran"


def test_the_entry_point_exits_with_the_commands_code(tmp_path: Path) -> None:
    bad = subprocess.run(
        [sys.executable, "-m", "tui_trainer", "check", "no-such-preset"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert bad.returncode == 2
    assert bad.stderr.startswith("tui-trainer: error:")
