"""While a run is resumed, `runs` and the browser do not show its earlier segment's end: the
summary.json a resume keeps until it ends is out of date once records follow it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from support.runs import run_preset
from support.runsdirs import make_run

from tui_trainer.remote.runs import inspect
from tui_trainer.runlog import Status
from tui_trainer.runlog.control import Control, StopMode
from tui_trainer.runlog.events import StepProgress


@pytest.fixture(autouse=True)
def _own_socket_dir(private_runtime: Path) -> None:
    """A socket directory of the test's own (a run without a current summary is asked)."""


def test_a_resumed_run_is_not_listed_as_its_earlier_end(tmp_path: Path) -> None:
    control = Control()

    def stop(event: object) -> None:
        if isinstance(event, StepProgress) and event.global_step == 30:
            control.request_stop(StopMode.STEP, status="interrupted")

    over = ["progress.interval=1e-9"]
    first, run_dir = run_preset(tmp_path, over, sinks=[stop], control=control)
    assert first.status == "interrupted" and inspect(run_dir).status is Status.INTERRUPTED
    during: list[Status] = []

    def look(event: object) -> None:
        if isinstance(event, StepProgress) and not during:
            assert (run_dir / "summary.json").exists()  # the earlier segment's, kept
            during.append(inspect(run_dir).status)

    run_preset(tmp_path, over, sinks=[look], resume=run_dir)
    # no control socket in-process: the socket is what says `running`; never `interrupted`
    assert during == [Status.DIED]
    assert inspect(run_dir).status is Status.COMPLETED


def test_a_copied_run_folder_still_reads_as_it_ended(tmp_path: Path) -> None:
    """Copied without its times (summary.json older than metrics.jsonl): still `completed`."""
    run_dir = make_run(tmp_path, "quickstart", "copied")
    summary = (run_dir / "summary.json").stat()
    os.utime(run_dir / "metrics.jsonl", ns=(summary.st_atime_ns, summary.st_mtime_ns + 10**9))
    assert inspect(run_dir).status is Status.COMPLETED
