"""Where the step time goes: the accounting (`engine.time_split`), the shares and hints
(`runlog.time_parts`), their records, the console's end lines and the run screen's line."""

from __future__ import annotations

import io
import time

import pytest
import torch

from tui_trainer.engine.time_split import TimeSplit
from tui_trainer.runlog.events import RunFinished, StepProgress
from tui_trainer.runlog.records import from_record, to_record
from tui_trainer.runlog.status import Status
from tui_trainer.runlog.time_parts import PARTS, hint, read_parts, shares
from tui_trainer.sinks.console import ConsoleSink
from tui_trainer.tui.widgets.time_bar import segments, summary_rows, time_line

CPU = torch.device("cpu")


def _step(split: TimeSplit, data: float = 0.0, compute: float = 0.0) -> None:
    time.sleep(data)
    split.mark("data")
    split.mark("copy")
    time.sleep(compute)
    split.mark("compute")
    split.mark("optimizer")
    split.mark("other")


def test_marks_split_the_window_by_phase_and_the_shares_sum_to_one() -> None:
    split = TimeSplit(CPU)
    split.start()
    for _ in range(3):
        _step(split, data=0.03, compute=0.01)
    parts = split.take_window()
    assert parts is not None and list(parts) == list(PARTS)
    assert sum(parts.values()) == pytest.approx(1.0, abs=1e-9)
    assert parts["data"] > 0.6 and parts["compute"] > 0.15
    assert split.take_window() is None  # nothing measured since: no window


def test_time_before_start_and_segments_off_the_clock_are_left_out() -> None:
    """What precedes `start` (validation, set-up) and a segment in which the training clock
    stood still (a pause, a checkpoint save) belong to no part."""
    off = [0.0]
    split = TimeSplit(CPU, off_clock=lambda: off[0])
    time.sleep(0.05)  # before the epoch starts
    split.start()
    _step(split, compute=0.01)
    time.sleep(0.1)  # paused: the training clock stands still ...
    off[0] += 0.1
    split.mark("other")  # ... so this segment is dropped
    _step(split, compute=0.01)
    seconds = split.totals()
    assert 0.015 < sum(seconds.values()) < 0.06
    assert seconds["other"] < 0.01


def test_totals_keep_every_window_and_carry_on_after_a_resume() -> None:
    split = TimeSplit(CPU)
    split.start()
    _step(split, data=0.02)
    split.take_window()
    _step(split, compute=0.02)  # not taken as a window yet: the totals still count it
    state = split.state_dict()
    assert state["seconds"]["data"] >= 0.02 and state["seconds"]["compute"] >= 0.02
    resumed = TimeSplit(CPU)
    resumed.load_state_dict(state)
    resumed.start()
    _step(resumed, data=0.02)
    after = resumed.totals()
    assert after["data"] >= state["seconds"]["data"] + 0.02
    breakdown = resumed.breakdown()
    assert breakdown is not None and sum(breakdown.values()) == pytest.approx(1.0)
    assert all(len(repr(v).split(".")[-1]) <= 4 for v in breakdown.values())  # 4 places
    resumed.load_state_dict({})  # a checkpoint from before the totals were kept
    assert resumed.totals() == after


def test_a_rank_that_does_not_report_measures_nothing() -> None:
    split = TimeSplit(CPU, enabled=False)
    split.start()
    _step(split, data=0.01)
    assert split.take_window() is None and split.breakdown() is None


def test_shares_round_to_four_places_and_still_sum_to_one() -> None:
    parts = shares({"data": 1.0, "copy": 1.0, "compute": 1.0, "optimizer": 0.0, "other": 0.0}, 4)
    assert parts == {
        "data": 0.3334,
        "copy": 0.3333,
        "compute": 0.3333,
        "optimizer": 0.0,
        "other": 0.0,
    }
    assert shares({"data": 0.0, "other": 0.0}) is None
    assert shares({"other": 2.0, "data": 6.0}) == {"data": 0.75, "other": 0.25}  # PARTS order


def test_a_dominant_part_gets_a_plain_hint() -> None:
    assert hint({"data": 0.62, "compute": 0.3, "other": 0.08}) == (
        "data wait 62%: raise data.num_workers or data.cache=ram"
    )
    assert hint({"compute": 0.8, "data": 0.2}) is None  # the model's own work: healthy
    assert "data.batch_size" in (hint({"optimizer": 0.5, "compute": 0.5}) or "")
    assert hint({"data": 0.49, "compute": 0.41, "other": 0.1}) is None
    assert "checkpoint.every_steps" in (hint({"other": 0.6, "compute": 0.4}) or "")
    assert hint({"data": 0.2, "other": 0.8}) is None  # a script run's rest is its own step
    assert hint(None) is None


def test_read_parts_refuses_what_is_not_shares() -> None:
    assert read_parts({"data": 0.5, "other": 0.5}) == {"data": 0.5, "other": 0.5}
    for bad in (None, [], {"data": "x"}, {"data": -0.1}, {"data": float("nan")}, {"data": 0}):
        assert read_parts(bad) is None


def test_time_parts_travel_in_step_records_and_are_left_out_when_absent() -> None:
    parts = {"data": 0.6, "copy": 0.01, "compute": 0.3, "optimizer": 0.05, "other": 0.04}
    event = StepProgress(1, 2, 3, 10, 3, 0.5, 0.1, None, 1.0, time_parts=parts)
    record = to_record(event, 0.0)
    assert record["time_parts"] == parts
    back = from_record(record)
    assert isinstance(back, StepProgress) and back.time_parts == parts
    bare = to_record(StepProgress(1, 2, 3, 10, 3, 0.5, 0.1, None, 1.0), 0.0)
    assert "time_parts" not in bare
    again = from_record(bare)
    assert isinstance(again, StepProgress) and again.time_parts is None


def _finished(breakdown: dict[str, float] | None) -> RunFinished:
    summary = {"status": "completed", "epochs_completed": 1}
    if breakdown is not None:
        summary["time_breakdown"] = breakdown  # type: ignore[assignment]
    return RunFinished(Status.COMPLETED, summary, "")  # type: ignore[arg-type]


def test_the_console_names_the_parts_and_gives_the_hint_once_at_the_end() -> None:
    out = io.StringIO()
    sink = ConsoleSink(out, tty=False)
    sink(_finished({"data": 0.62, "copy": 0.01, "compute": 0.3, "optimizer": 0.05, "other": 0.02}))
    lines = out.getvalue().splitlines()
    assert "time: data 62% · compute 30% · optim 5% · other 2% · copy 1%" in lines
    hints = [line for line in lines if line.startswith("hint: ")]
    assert hints == ["hint: data wait 62%: raise data.num_workers or data.cache=ram"]
    quiet = io.StringIO()
    ConsoleSink(quiet, tty=False)(_finished({"data": 0.3, "compute": 0.4, "other": 0.3}))
    assert "time: compute 40%" in quiet.getvalue() and "hint:" not in quiet.getvalue()
    none = io.StringIO()
    ConsoleSink(none, tty=False)(_finished(None))
    assert "time:" not in none.getvalue()


def test_the_bar_fills_its_width_by_share() -> None:
    cells = segments(
        {"data": 0.62, "copy": 0.01, "compute": 0.3, "optimizer": 0.05, "other": 0.02}, 20
    )
    assert sum(n for _, n in cells) == 20
    assert dict(cells)["data"] in (12, 13) and dict(cells)["compute"] == 6
    assert segments({}, 10) == [] and segments({"data": 1.0}, 0) == []


@pytest.mark.parametrize("width", [60, 80, 120])
def test_the_line_fits_its_width_and_says_what_dominates(width: int) -> None:
    parts = {"data": 0.62, "copy": 0.01, "compute": 0.3, "optimizer": 0.05, "other": 0.02}
    line = time_line(parts, width)
    assert line.cell_length <= width
    assert line.plain.startswith("time  █")
    assert "data wait 62%" in line.plain
    if width >= 80:
        assert "data.num_workers" in line.plain
    balanced = time_line({"data": 0.3, "compute": 0.4, "other": 0.3}, width).plain
    assert "compute 40%" in balanced and ":" not in balanced
    assert "after the first steps" in time_line(None, width).plain
    assert "not measured for this run" in time_line(None, width, stepped=True).plain


def test_the_summary_rows_fit_the_result_panel() -> None:
    rows = summary_rows({"data": 0.2, "copy": 0.2, "compute": 0.2, "optimizer": 0.2, "other": 0.2})
    assert len(rows) == 1 and rows[0].cell_length <= 64
    rows = summary_rows({"optimizer": 0.7, "compute": 0.3})
    assert [r.cell_length <= 64 for r in rows] == [True, True]
    assert rows[1].plain == "optimizer 70%: raise data.batch_size or accumulate (fewer steps)"
    assert summary_rows(None) == []
    # a compute-bound run is healthy: no hint, and the shares are not said twice
    rows = summary_rows({"compute": 0.9, "optimizer": 0.05, "other": 0.05})
    assert [r.plain.count("compute 90%") for r in rows] == [1]


class FakeGpu:
    """A fake CUDA timeline: events record the GPU time they will be reached at; those up to
    `done` are complete. Counts the host syncs (`synchronize`)."""

    def __init__(self) -> None:
        self.now = 0.0  # seconds on the GPU's timeline of the next recorded event
        self.done = 0.0
        self.syncs = 0
        self.made = 0
        self.stream = object()

    def event_class(self) -> type:
        gpu = self

        class Event:
            def __init__(self, enable_timing: bool = False) -> None:
                assert enable_timing
                gpu.made += 1
                self.at: float | None = None

            def record(self, stream: object = None) -> None:
                assert stream is gpu.stream  # the stream looked up once, at `start`
                self.at = gpu.now

            def query(self) -> bool:
                return self.at is not None and self.at <= gpu.done

            def synchronize(self) -> None:
                gpu.syncs += 1
                gpu.done = max(gpu.done, self.at or 0.0)

            def elapsed_time(self, end: Event) -> float:
                assert self.query() and end.query(), "read before both completed"
                return (end.at - self.at) * 1000.0  # type: ignore[operator]

        return Event


def test_on_cuda_events_are_read_when_complete_without_a_sync(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Each mark records an event; a window reads only the intervals whose events completed
    (no host sync), the rest count in the next window; read events are recorded again."""
    gpu = FakeGpu()
    monkeypatch.setattr(torch.cuda, "Event", gpu.event_class())
    monkeypatch.setattr(torch.cuda, "current_stream", lambda: gpu.stream)
    split = TimeSplit(torch.device("cuda"))
    split.start()

    def phase(part: str, seconds: float) -> None:
        gpu.now += seconds
        split.mark(part)

    for _ in range(2):  # two steps on the GPU's timeline: 1 s data wait, 3 s compute each
        phase("data", 1.0)
        phase("copy", 0.0)
        phase("compute", 3.0)
        phase("optimizer", 0.0)
        phase("other", 0.0)
    gpu.done = 4.0  # the GPU has finished the first step only
    first = split.take_window()
    assert first == {"data": 0.25, "copy": 0.0, "compute": 0.75, "optimizer": 0.0, "other": 0.0}
    assert gpu.syncs == 0
    made = gpu.made
    phase("data", 4.0)  # a third step's data wait: an event recorded again, not a new one
    assert gpu.made == made
    gpu.done = gpu.now
    second = split.take_window()
    assert second is not None and second["data"] == pytest.approx(5 / 8)
    assert gpu.syncs == 0
    phase("compute", 2.0)  # in flight at the run's end: the totals wait for it
    assert split.totals()["compute"] == pytest.approx(8.0) and gpu.syncs == 1


def test_a_device_error_at_the_end_loses_the_unread_intervals_not_the_summary(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    gpu = FakeGpu()
    monkeypatch.setattr(torch.cuda, "Event", gpu.event_class())
    monkeypatch.setattr(torch.cuda, "current_stream", lambda: gpu.stream)
    split = TimeSplit(torch.device("cuda"))
    split.start()
    gpu.now += 1.0
    split.mark("compute")
    gpu.done = gpu.now
    split.take_window()
    gpu.now += 1.0
    split.mark("data")  # in flight when the device fails

    def fail(self: object) -> None:
        raise RuntimeError("CUDA error: an illegal memory access was encountered")

    monkeypatch.setattr(torch.cuda.Event, "synchronize", fail)
    assert split.breakdown() == {
        "data": 0.0,
        "copy": 0.0,
        "compute": 1.0,
        "optimizer": 0.0,
        "other": 0.0,
    }
