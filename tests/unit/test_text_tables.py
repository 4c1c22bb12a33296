"""`runs` and `compare` print their tables and durations through one formatter each."""

from __future__ import annotations

from tui_trainer import formatting as fmt
from tui_trainer.compare import table
from tui_trainer.remote.runs import RunInfo, format_table
from tui_trainer.runlog import Status


def _info(seconds: float | None) -> RunInfo:
    return RunInfo("runs/demo/1", "demo", Status.COMPLETED, False, 3, 3, None, None, None,
                   None, seconds)  # fmt: skip


def test_one_aligned_text_table() -> None:
    assert fmt.text_table([("A", "BB"), ("ccc", "d")]) == "A    BB\nccc  d"
    assert table(["", "x"], [("wall time", ["01:15"])]) == "           x\nwall time  01:15"


def test_runs_writes_durations_as_compare_does() -> None:
    row = format_table([_info(75.0)]).splitlines()[1]
    assert row.split()[-1] == fmt.duration(75.0) == "01:15"
    assert format_table([_info(3725.0)]).splitlines()[1].split()[-1] == "1:02:05"
    assert format_table([_info(None)]).splitlines()[1].split()[-1] == "-"
