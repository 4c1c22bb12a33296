"""Watchdogs on tiny real runs: a NaN loss, a data loader that sleeps, a healthy run; the
alert record, the summary, the console line, an action taking effect, the webhook, `runs`,
bad `alerts:` values, and the run screen's log and bell."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest
from support.cli import one_line_error
from support.pilot import NoGpuPanel, wait_for
from support.runs import Recorder, run_preset
from support.scripted import ScriptedExecutor
from textual.app import App

from tui_trainer.cli import main
from tui_trainer.config import load_config
from tui_trainer.remote.runs import format_table, inspect
from tui_trainer.runlog.control import Control
from tui_trainer.runlog.events import Alert, Steered, StepProgress
from tui_trainer.sinks.console import ConsoleSink
from tui_trainer.tui.runs_view import open_run, summary_rows
from tui_trainer.tui.screens import run as run_screen
from tui_trainer.tui.screens.run import RunRequest, RunScreen

SLEEPY = [
    "data.name=support.userdata:SleepyDigits",
    "data.kwargs={sleep: 0.08, limit: 60}",
    "data.num_workers=0",
    "data.batch_size=8",
    "epochs=1",
]
"""A data-bound run: every batch of 8 waits ~0.6 s on __getitem__ sleeps (about 6 steps)."""


def alert_records(run_dir: Path) -> list[dict[str, Any]]:
    lines = (run_dir / "metrics.jsonl").read_text().splitlines()
    return [r for r in map(json.loads, lines) if r["event"] == "alert"]


def test_a_healthy_quickstart_run_raises_no_alert(tmp_path: Path) -> None:
    recorder = Recorder()
    finished, run_dir = run_preset(tmp_path, ["epochs=3"], sinks=[recorder])
    assert finished.status == "completed"
    assert recorder.of(Alert) == [] and alert_records(run_dir) == []
    assert "alerts" not in json.loads((run_dir / "summary.json").read_text())


def test_nan_loss_alerts_in_the_file_the_summary_and_the_console(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    finished, run_dir = run_preset(tmp_path, ["optim.lr=1e6"], sinks=[ConsoleSink(tty=False)])
    assert finished.status == "failed"
    (record,) = alert_records(run_dir)
    assert record["rule"] == "nonfinite" and record["level"] == "error"
    assert "non-finite training loss" in record["message"]
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["alerts"]["count"] == 1 and summary["alerts"]["last"]["rule"] == "nonfinite"
    out = capsys.readouterr().out
    assert out.count("non-finite training loss at") == 2  # the log line, the summary block
    assert "alert (nonfinite)" not in out  # the alert repeats the line just logged: not shown
    assert "\a" not in out  # not a terminal: no bell
    rows = dict(summary_rows(open_run(run_dir)))  # the runs browser's summary panel
    assert rows["last alert"].startswith("nonfinite: NonFiniteLoss: non-finite training loss")
    info = inspect(run_dir)  # `runs`: the latest alert, from summary.json
    assert info.alert is not None and info.alert["rule"] == "nonfinite"
    assert "nonfinite" in format_table([info]).splitlines()[1]
    (run_dir / "summary.json").unlink()  # a run killed before its summary: read from the tail
    info = inspect(run_dir)
    assert info.status == "died" and info.alert is not None
    assert info.alert["rule"] == "nonfinite" and info.alert["time"] == record["time"]


def test_a_sleeping_dataset_trips_data_wait_and_stall_and_the_action_steers(
    tmp_path: Path,
) -> None:
    recorder = Recorder()
    finished, run_dir = run_preset(
        tmp_path,
        [
            *SLEEPY,
            "scheduler.name=none",  # a constant LR: the action's halving is plain to see
            "scheduler.warmup_epochs=0",
            "alerts.stall.seconds=0.15",
            "alerts.data_wait.windows=1",  # one window: CPU contention makes compute vary
            "alerts.data_wait.percent=40",
            "alerts.data_wait.action=lr=*0.5",
        ],
        sinks=[recorder],
    )
    assert finished.status == "completed"
    rules = {a.rule for a in recorder.of(Alert)}
    assert {"data_wait", "stall"} <= rules
    data = next(a for a in recorder.of(Alert) if a.rule == "data_wait")
    assert data.action == "lr=*0.5" and data.value is not None and data.value > 50
    steered = recorder.of(Steered)  # the action took effect at a step boundary
    assert steered and steered[0].change == "lr=*0.5" and steered[0].new == 0.025
    assert recorder.of(StepProgress)[-1].lr == 0.025
    assert {r["rule"] for r in alert_records(run_dir)} == rules
    saved = (run_dir / "config.yaml").read_text()
    assert "lr=*0.5" in saved  # recorded as steering: replay repeats it


def test_alerts_off_switch(tmp_path: Path) -> None:
    recorder = Recorder()
    run_preset(tmp_path, ["optim.lr=1e6", "alerts.enabled=false"], sinks=[recorder])
    assert recorder.of(Alert) == []


class _Hook(BaseHTTPRequestHandler):
    bodies: ClassVar[list[dict[str, Any]]] = []

    def do_POST(self) -> None:
        size = int(self.headers["Content-Length"])
        type(self).bodies.append(json.loads(self.rfile.read(size)))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


def test_the_webhook_posts_the_alert_to_a_local_server(tmp_path: Path) -> None:
    _Hook.bodies = []
    server = HTTPServer(("127.0.0.1", 0), _Hook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_port}/hooks/secret-token"
        finished, run_dir = run_preset(tmp_path, ["optim.lr=1e6", f"alerts.webhook={url}"])
    finally:
        server.shutdown()
    assert finished.status == "failed"
    (body,) = _Hook.bodies
    assert body["event"] == "alert" and body["rule"] == "nonfinite"
    assert body["run_dir"] == str(run_dir) and body["preset"] == "quickstart"
    assert body["text"].startswith("tui-trainer quickstart: alert (nonfinite):")


def test_a_failing_webhook_is_a_warning_and_never_the_runs(tmp_path: Path) -> None:
    server = HTTPServer(("127.0.0.1", 0), _Hook)
    port = server.server_port
    server.server_close()  # nothing listens there now
    recorder = Recorder()
    url = f"http://127.0.0.1:{port}/hooks/secret-token"
    finished, run_dir = run_preset(
        tmp_path, ["optim.lr=1e6", f"alerts.webhook={url}"], sinks=[recorder]
    )
    assert finished.error is not None and finished.error.startswith("NonFiniteLoss")
    warnings = [m for m in recorder.messages("warning") if m.startswith("alerts.webhook")]
    assert len(warnings) <= 1  # posted from a thread: said before the run's end, or dropped
    assert all("secret-token" not in w for w in warnings)  # a URL's path may hold a token
    records = (run_dir / "metrics.jsonl").read_text().splitlines()
    assert json.loads(records[-1])["event"] == "finished"  # nothing after the last record


@pytest.mark.parametrize(
    ("override", "key"),
    [
        ("alerts.spike.action=explode", "alerts.spike.action"),
        ("alerts.stall.action=lr=*0", "alerts.stall.action"),
        ("alerts.webhook=ftp://example.com/x", "alerts.webhook"),
        ("alerts.plateau.epochs=0", "alerts.plateau.epochs"),
        ("alerts.gpu_idle.percent=150", "alerts.gpu_idle.percent"),
        ("alerts.data_wait.windows=two", "alerts.data_wait.windows"),
    ],
)
def test_bad_alerts_values_exit_2_naming_the_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], override: str, key: str
) -> None:
    assert main(["run", "quickstart", override, f"--out={tmp_path}"]) == 2
    assert key in one_line_error(capsys)
    assert not any(tmp_path.iterdir())


def test_the_run_screen_logs_an_alert_and_rings(monkeypatch: pytest.MonkeyPatch) -> None:
    rung: list[list[Alert]] = []
    monkeypatch.setattr(run_screen, "ring", lambda app, alerts: rung.append(alerts) or True)
    script = ScriptedExecutor(epochs=1, steps=6)
    alert = Alert("stall", "stall: no training step finished for 5 s", "warning", 1, 3, 5.0,
                  1.0, "none", time=time.time())  # fmt: skip

    def executor(config: Any, preset: str, *, sinks: list, control: Control, **kw: Any) -> Any:
        for sink in sinks:
            sink(alert)
        return script(config, preset, sinks=sinks, control=control, **kw)

    config, name = load_config("quickstart", [])
    screen = RunScreen(RunRequest(config, name), executor, NoGpuPanel)

    class Host(App[None]):
        def on_mount(self) -> None:
            self.push_screen(screen)

    async def drive() -> None:
        async with Host().run_test(size=(100, 30)) as pilot:
            await wait_for(pilot, lambda: not screen.model.active)
            await pilot.pause(0.1)
            assert "alert (stall): stall: no training step finished" in screen._log.plain_text

    asyncio.run(drive())
    assert [a for batch in rung for a in batch] == [alert]
