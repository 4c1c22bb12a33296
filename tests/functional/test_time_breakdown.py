"""Where the step time goes, on real tiny runs and on the console's screens: a run whose data is
slow says it is data-bound (progress windows, summary.json, the console's hint), a healthy one
does not, and the run and summary screens show the bar at 80x24."""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

import pytest
import torch
from support.pilot import NoGpuPanel, demo_presets, held_mid_run, run, screen_text, wait_for
from support.runs import Recorder, run_preset
from support.scripted import ScriptedExecutor

from tui_trainer.runlog.events import StepProgress
from tui_trainer.runlog.time_parts import PARTS
from tui_trainer.sinks.console import ConsoleSink
from tui_trainer.tui.app import TrainerApp
from tui_trainer.tui.screens.summary import SummaryScreen
from tui_trainer.tui.widgets.time_bar import TimeBar

SLOW = [
    "data.name=support.userdata:SleepyDigits",
    "data.kwargs={sleep: 0.03, limit: 120}",  # 30 ms an item: data-bound even on a busy CPU
    "data.batch_size=16",
    "data.num_workers=0",
    "epochs=1",
]


def _step_records(run_dir: Path) -> list[dict]:
    lines = (run_dir / "metrics.jsonl").read_text().splitlines()
    return [r for r in map(json.loads, lines) if r["event"] == "step"]


def test_a_slow_dataset_makes_the_run_data_bound(tmp_path: Path) -> None:
    events, console = Recorder(), io.StringIO()
    finished, run_dir = run_preset(tmp_path, SLOW, sinks=[events, ConsoleSink(console, tty=False)])
    assert finished.status == "completed"
    windows = [e.time_parts for e in events.of(StepProgress)]
    assert windows and all(w is not None and list(w) == list(PARTS) for w in windows)
    for w in windows:
        assert w is not None and sum(w.values()) == pytest.approx(1.0, abs=1e-3)
    summary = json.loads((run_dir / "summary.json").read_text())
    breakdown = summary["time_breakdown"]
    assert list(breakdown) == list(PARTS) and sum(breakdown.values()) == pytest.approx(1.0)
    assert breakdown["data"] > 0.5, breakdown
    assert [r["time_parts"] for r in _step_records(run_dir)] == windows  # what watchers read
    lines = console.getvalue().splitlines()
    (hint,) = [line for line in lines if line.startswith("hint: ")]
    assert hint.startswith("hint: data wait ") and "data.num_workers" in hint


def test_a_healthy_run_is_not_data_bound(tmp_path: Path) -> None:
    console = io.StringIO()
    finished, _ = run_preset(tmp_path, ["epochs=1"], sinks=[ConsoleSink(console, tty=False)])
    breakdown = finished.summary["time_breakdown"]
    assert breakdown["data"] < 0.5 and breakdown["compute"] > breakdown["data"], breakdown
    assert "hint: data wait" not in console.getvalue()


DATA_BOUND = {"data": 0.62, "copy": 0.01, "compute": 0.3, "optimizer": 0.05, "other": 0.02}


def test_the_run_and_summary_screens_show_the_bar_at_80x24(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    script = ScriptedExecutor(epochs=3, steps=12, hold=(2, 6), time_parts=dict(DATA_BOUND))
    app = TrainerApp(
        "digits-demo",
        start=True,
        executor=script,
        presets=demo_presets(tmp_path),
        gpu_panel=NoGpuPanel,
    )

    async def scenario() -> None:
        async with app.run_test(headless=True, size=(80, 24)) as pilot:
            runner = await held_mid_run(pilot)
            bar = runner.query_one(TimeBar)
            assert bar.region.height == 1 and bar.region.width >= 78
            text = screen_text(app)
            assert "time  █" in text
            assert "data wait 62%: raise data.num_workers or data.cache=ram" in text
            for panel in ("Epochs", "Log"):  # the rest of the screen still fits
                assert panel in text
            assert "  1  " in text.split("Epochs", 1)[1]  # the table still shows its row
            script.time_parts = {"data": 0.1, "compute": 0.8, "other": 0.1}
            script.release()
            await wait_for(pilot, lambda: isinstance(app.screen, SummaryScreen))
            await pilot.pause()
            summary = screen_text(app)
            assert "time      " in summary and "compute 80% · data 10% · other 10%" in summary
            assert "forward+backward 80%:" not in summary  # a healthy run gets no advice
            # back on the run screen, the bar shows the whole run's shares
            assert runner.model.progress.time_parts == script.time_parts

    run(scenario())
    assert os.getcwd() == str(tmp_path)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_on_cuda_the_windows_come_from_events_and_a_slow_dataset_is_data_bound(
    tmp_path: Path,
) -> None:
    """The GPU's timeline: the data share is the time the GPU waited for the next batch."""
    events = Recorder()
    finished, _ = run_preset(tmp_path, [*SLOW, "device=cuda"], sinks=[events])
    windows = [e.time_parts for e in events.of(StepProgress)]
    assert windows and all(
        w is not None and sum(w.values()) == pytest.approx(1, abs=1e-3) for w in windows
    )
    assert finished.summary["time_breakdown"]["data"] > 0.5
