"""The run's status is one enum from the socket to summary.json, written as the same names."""

from __future__ import annotations

import json

from tui_trainer.runlog import Status
from tui_trainer.runlog.events import RunFinished
from tui_trainer.runlog.records import from_record, to_record
from tui_trainer.runlog.status import LIVE


def test_busy_is_a_live_state_of_its_own() -> None:
    """A full control socket answers `busy`: the run is live, not of an unknown state."""
    assert Status.parse("busy") is Status.BUSY
    assert Status.BUSY.live and Status.BUSY in LIVE


def test_run_finished_carries_the_enum_and_writes_the_same_name() -> None:
    ended = RunFinished("interrupted", {"status": "interrupted"}, "")
    assert ended.status is Status.INTERRUPTED
    line = json.dumps(to_record(ended, 1.0))
    assert json.loads(line)["status"] == "interrupted"
    back = from_record(json.loads(line))
    assert isinstance(back, RunFinished) and back.status is Status.INTERRUPTED
    assert RunFinished("died", {}, "").status is Status.DIED  # a reader's own verdict
