"""The watchdog's rules on injected event streams, its actions through Control, the GPU reading
through the fake NVML, and how an alert rings a terminal (no training here)."""

from __future__ import annotations

import math
import os
from typing import Any

import pytest
from support.fake_nvml import FakeGpu, FakeNvml

from tui_trainer.config.alerts import AlertsConfig
from tui_trainer.engine.watchdog import SerialBus, Watchdog
from tui_trainer.notify import ring_sequence, should_ring
from tui_trainer.runlog.control import Control, StopMode
from tui_trainer.runlog.events import (
    Alert,
    EpochEnd,
    Event,
    LogMessage,
    Paused,
    Resumed,
    RunStarted,
    StepProgress,
)
from tui_trainer.runlog.records import from_record, to_record
from tui_trainer.telemetry.own_gpu import OwnGpuUtilization


class Clock:
    """A hand-wound monotonic clock."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def watchdog(
    overrides: dict[str, Any] | None = None, *, utilization: Any = None
) -> tuple[Watchdog, list[Event], Control, Clock]:
    """A watchdog over `alerts:` with `overrides`, its emitted events, control and clock."""
    config = AlertsConfig.model_validate(overrides or {})
    events: list[Event] = []
    control, clock = Control(), Clock()
    dog = Watchdog(config, control, events.append, utilization=utilization, clock=clock)
    return dog, events, control, clock


def alerts(events: list[Event]) -> list[Alert]:
    return [e for e in events if isinstance(e, Alert)]


def started(epochs: int = 10, start_epoch: int = 0, interval: float = 0.25) -> RunStarted:
    return RunStarted(
        run_dir="runs/x/1",
        preset="x",
        config={"progress": {"interval": interval}},
        device="cpu",
        precision="fp32",
        epochs=epochs,
        start_epoch=start_epoch,
        steps_per_epoch=100,
        trainable_params=1,
        total_params=1,
        task="classification",
        class_names=[],
    )


def step(
    loss: float = 1.0,
    *,
    gstep: int = 100,
    epoch: int = 1,
    s: int = 10,
    steps: int = 100,
    elapsed: float = 10.0,
    parts: dict[str, float] | None = None,
) -> StepProgress:
    return StepProgress(
        epoch=epoch,
        epochs=10,
        step=s,
        steps=steps,
        global_step=gstep,
        loss=loss,
        lr=0.1,
        samples_per_second=None,
        elapsed=elapsed,
        time_parts=parts,
    )


def epoch_end(epoch: int, best_epoch: int | None) -> EpochEnd:
    return EpochEnd(epoch, 30, {"val_accuracy": 0.5}, 1.0, epoch == best_epoch, "val_accuracy",
                    0.9 if best_epoch else None, best_epoch)  # fmt: skip


def test_a_healthy_stream_raises_nothing() -> None:
    dog, events, _, clock = watchdog()
    dog(started())
    for i in range(200):  # a falling loss, steps finishing, the metric improving
        clock.now += 1
        dog(step(2.0 / (1 + i), gstep=i, epoch=i // 100 + 1, s=i % 100 + 1, elapsed=i + 1.0,
                 parts={"data": 0.1, "compute": 0.9}))  # fmt: skip
        dog.check_clock()
        if i % 100 == 99:
            dog(epoch_end(i // 100 + 1, i // 100 + 1))
    assert alerts(events) == []


def test_non_finite_loss_alerts_once_from_a_window_or_the_engine_line() -> None:
    dog, events, _, _ = watchdog()
    dog(step(1.0))
    dog(step(math.nan))
    dog(step(math.inf))
    assert [a.rule for a in alerts(events)] == ["nonfinite"]
    assert alerts(events)[0].level == "error"
    dog, events, _, _ = watchdog()
    dog(LogMessage("error", "NonFiniteLoss: non-finite training loss at epoch 1, step 3"))
    assert [a.rule for a in alerts(events)] == ["nonfinite"]


def test_an_alert_before_an_epochs_first_progress_is_of_that_epoch() -> None:
    dog, events, _, _ = watchdog()
    dog(epoch_end(1, 1))  # epoch 1 ended; epoch 2's first window is non-finite
    dog(LogMessage("error", "NonFiniteLoss: non-finite training loss at epoch 2, step 1"))
    (alert,) = alerts(events)
    assert alert.epoch == 2  # as its message says (was 1: the epoch that had ended)


def test_spike_after_the_warm_up_only_and_once_per_spike() -> None:
    dog, events, _, _ = watchdog({"spike": {"factor": 5, "warmup_steps": 50}})
    for g in range(10, 50, 10):
        dog(step(1.0, gstep=g))
    dog(step(9.0, gstep=45))  # in the warm-up: not judged
    assert alerts(events) == []
    for g in range(60, 120, 10):
        dog(step(1.0, gstep=g))
    dog(step(20.0, gstep=130))
    dog(step(25.0, gstep=140))  # the same spike
    spikes = alerts(events)
    assert [a.rule for a in spikes] == ["spike"]
    assert spikes[0].value == 20.0 and spikes[0].threshold is not None
    assert 20.0 > spikes[0].threshold > 5.0


def test_plateau_after_n_epochs_without_a_better_value() -> None:
    dog, events, _, _ = watchdog({"plateau": {"epochs": 3}})
    for epoch in range(1, 6):
        dog(epoch_end(epoch, min(epoch, 2)))  # best at epoch 2, then nothing better
    assert [(a.rule, a.value) for a in alerts(events)] == [("plateau", 3.0)]
    assert "since epoch 2" in alerts(events)[0].message
    dog(epoch_end(6, 6))
    for epoch in range(7, 9):
        dog(epoch_end(epoch, 6))
    assert len(alerts(events)) == 1  # 2 epochs since the new best: not yet


def test_stall_fires_while_a_step_hangs_not_while_paused_or_validating() -> None:
    dog, events, _, clock = watchdog({"stall": {"seconds": 30}})
    dog(started())
    dog(step(s=5))
    clock.now += 29
    dog.check_clock()
    assert alerts(events) == []
    clock.now += 2
    dog.check_clock()
    dog.check_clock()
    (stall,) = alerts(events)
    assert stall.rule == "stall" and stall.value == 31.0 and "after step 5/100" in stall.message
    dog(Paused(1, 6))
    clock.now += 100
    dog.check_clock()
    dog(Resumed(1, 6))
    clock.now += 10
    dog.check_clock()
    dog(step(s=100, steps=100))  # the epoch's last step: validation runs, not timed
    clock.now += 100
    dog.check_clock()
    assert len(alerts(events)) == 1


def test_stall_waits_at_least_three_progress_intervals() -> None:
    dog, events, _, clock = watchdog({"stall": {"seconds": 30}})
    dog(started(interval=60.0))  # progress events only every minute
    dog(step(s=5))
    clock.now += 170
    dog.check_clock()
    assert alerts(events) == []
    clock.now += 11
    dog.check_clock()
    assert [(a.rule, a.threshold) for a in alerts(events)] == [("stall", 180.0)]


def test_data_wait_after_windows_in_a_row() -> None:
    dog, events, _, _ = watchdog({"data_wait": {"percent": 50, "windows": 3}})
    slow, fast = {"data": 0.7, "compute": 0.3}, {"data": 0.2, "compute": 0.8}
    for parts in (slow, slow, fast, slow, slow):
        dog(step(parts=parts))
    assert alerts(events) == []
    dog(step(parts=slow))
    (alert,) = alerts(events)
    assert alert.rule == "data_wait" and alert.value == 70.0
    assert "data.num_workers" in alert.message


def test_a_rule_that_trips_again_stays_quiet_for_repeat_after() -> None:
    dog, events, control, clock = watchdog(
        {"repeat_after": 600, "data_wait": {"windows": 1, "action": "pause"}}
    )
    slow, fast = {"data": 0.9, "compute": 0.1}, {"data": 0.1, "compute": 0.9}
    dog(step(parts=slow))
    control.resume()
    clock.now += 300
    dog(step(parts=fast))
    dog(step(parts=slow))  # re-armed and tripped, but within 600 s: no alert, no action
    assert len(alerts(events)) == 1 and not control.paused
    clock.now += 301
    dog(step(parts=fast))
    dog(step(parts=slow))
    assert len(alerts(events)) == 2 and control.paused


def test_eta_slip_against_the_first_estimate() -> None:
    dog, events, _, _ = watchdog({"eta": {"percent": 50, "after": 0.05}})
    dog(started(epochs=10))
    dog(step(epoch=1, s=1, elapsed=1.0))  # where this process starts
    dog(step(epoch=1, s=51, elapsed=51.0))  # 5% of the run in 50 s: 999 s projected
    dog(step(epoch=2, s=1, elapsed=101.0))
    assert alerts(events) == []
    dog(step(epoch=2, s=11, elapsed=301.0))  # slower: 2724 s projected
    (alert,) = alerts(events)
    assert alert.rule == "eta" and alert.value is not None and alert.value > 150


def test_eta_slip_must_also_be_min_seconds_long() -> None:
    dog, events, _, _ = watchdog({"eta": {"percent": 50, "min_seconds": 60}})
    dog(step(epoch=1, s=1, elapsed=0.1))
    dog(step(epoch=1, s=51, elapsed=5.1))  # 99.9 s projected
    dog(step(epoch=1, s=61, elapsed=9.1))  # 150 s: 50% but 50 s late
    assert alerts(events) == []
    dog(step(epoch=1, s=61, elapsed=10.1))  # 167 s: 67 s late
    assert [a.rule for a in alerts(events)] == ["eta"]


def test_eta_of_a_run_resumed_mid_epoch_at_a_steady_rate_does_not_slip() -> None:
    dog, events, _, _ = watchdog({"eta": {"percent": 20, "min_seconds": 0}})
    dog(started(epochs=10, start_epoch=2))
    for epoch, s, elapsed in [(3, 51, 0.1), (3, 61, 10.1), (4, 1, 50.1), (6, 1, 250.1)]:
        dog(step(epoch=epoch, s=s, elapsed=elapsed))  # one epoch per 100 s throughout
    assert alerts(events) == []


def test_gpu_idle_through_the_fake_nvml(monkeypatch: pytest.MonkeyPatch) -> None:
    gpu = FakeGpu(utilization=3, compute=[(os.getpid(), 1 << 30)])
    other = FakeGpu(utilization=99, uuid="GPU-1")  # busy, but not this process's
    nvml = FakeNvml(gpus=[other, gpu]).install(monkeypatch)
    clock = Clock()
    reading = OwnGpuUtilization(0, nvml.reader(), every=0, clock=clock)
    dog, events, _, _ = watchdog({"gpu_idle": {"percent": 10, "seconds": 60}}, utilization=reading)
    dog.clock = clock
    dog(started())
    for _ in range(7):
        clock.now += 10
        dog.check_clock()
    (alert,) = alerts(events)
    assert alert.rule == "gpu_idle" and alert.value == 3.0 and alert.threshold == 10.0
    gpu.utilization = 80  # busy again: re-armed, then idle again needs the full stretch
    clock.now += 10
    dog.check_clock()
    gpu.utilization = 1
    for _ in range(3):
        clock.now += 10
        dog.check_clock()
    assert len(alerts(events)) == 1


def test_gpu_idle_off_without_a_reading_and_when_disabled() -> None:
    dog, *_ = watchdog()
    assert dog.gpu_idle is None
    dog, *_ = watchdog({"gpu_idle": {"enabled": False}}, utilization=lambda: 0.0)
    assert dog.gpu_idle is None
    dog, *_ = watchdog({"enabled": False}, utilization=lambda: 0.0)
    assert dog.gpu_idle is None and dog.stall is None and not dog.timed


@pytest.mark.parametrize(
    ("action", "check"),
    [
        ("pause", lambda c: c.paused),
        ("stop", lambda c: c.stop_mode is StopMode.STEP),
        ("checkpoint", lambda c: ("checkpoint", "") in c.take_actions()),
        ("lr=*0.5", lambda c: c.take_steers() == ["lr=*0.5"]),
    ],
)
def test_a_rules_action_goes_through_control(action: str, check: Any) -> None:
    dog, events, control, _ = watchdog({"nonfinite": {"action": action}})
    control.steer_check = lambda change: None  # a training run accepts the change
    dog(step(math.nan))
    (alert,) = alerts(events)
    assert alert.action == action and check(control)


def test_a_refused_lr_action_is_said_in_the_alert() -> None:
    dog, events, control, _ = watchdog({"nonfinite": {"action": "lr=0.01"}})
    dog(step(math.nan))  # no steer_check: the run is not training
    assert "refused" in alerts(events)[0].message
    assert control.take_steers() == []


def test_the_watchdog_alerts_through_a_serial_bus_from_its_thread() -> None:
    seen: list[Event] = []
    config = AlertsConfig.model_validate({"stall": {"seconds": 0.05}})
    dog = Watchdog(config, Control(), lambda event: bus.emit(event), tick=0.02)
    bus = SerialBus([seen.append, dog])
    bus.emit(started())
    try:
        for _ in range(200):
            if any(isinstance(e, Alert) for e in seen):
                break
            dog._stop.wait(0.01)
    finally:
        dog.close()
    assert [e.rule for e in seen if isinstance(e, Alert)][:1] == ["stall"]
    assert dog._thread is not None and not dog._thread.is_alive()


def test_alert_record_round_trip() -> None:
    alert = Alert("spike", "loss spike", "warning", 2, 40, 9.5, 5.0, "lr=*0.5", 1700000000.5)
    record = to_record(alert, 1700000000.6)
    assert record["event"] == "alert" and record["rule"] == "spike"
    assert from_record(record) == alert


def test_ring_sequence_bell_osc9_osc777_and_tmux() -> None:
    alert = Alert("stall", "no step\x1b]0;evil\x07 for 5 s", "warning", 1, 2, 5.0, 1.0, "none", 0)
    text = ring_sequence(alert, tmux=False)
    assert text.startswith("\a")
    assert "\x1b]9;tui-trainer: alert (stall): no step" in text
    assert "\x1b]777;notify;tui-trainer;alert (stall): no step" in text
    assert "evil\x07" not in text and text.count("\x1b") == 2  # the message cannot inject
    wrapped = ring_sequence(alert, tmux=True)
    assert "\x1bPtmux;\x1b\x1b]9;" in wrapped and wrapped.endswith("\x1b\\")


def test_should_ring_new_alerts_only_and_only_with_the_bell() -> None:
    alert = Alert("stall", "m", "warning", 1, 2, 5.0, 1.0, "none", time=1000.0)
    assert should_ring(alert, now=1010.0)
    assert not should_ring(alert, now=5000.0)  # a watcher replaying an old alert
    quiet = Alert("stall", "m", "warning", 1, 2, 5.0, 1.0, "none", time=1000.0, bell=False)
    assert not should_ring(quiet, now=1010.0)


class _Driver:
    def __init__(self) -> None:
        self.written: list[str] = []

    def write(self, data: str) -> None:
        self.written.append(data)

    def flush(self) -> None:
        pass


def test_the_console_rings_through_textuals_driver_once_per_batch_of_news(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("TMUX", raising=False)
    import time
    from types import SimpleNamespace

    from tui_trainer.tui.alerts import ring

    new = Alert("stall", "m", "warning", 1, 2, 5.0, 1.0, "none", time=time.time())
    old = Alert("spike", "m", "warning", 1, 2, 5.0, 1.0, "none", time=time.time() - 3600)
    driver = _Driver()
    app: Any = SimpleNamespace(is_headless=False, _driver=driver)
    newer = Alert("plateau", "m", "warning", 1, 2, 5.0, 1.0, "none", time=time.time())
    assert ring(app, [new, old, newer])
    (written,) = driver.written
    assert written.startswith("\a") and written.count("\x1b]9;") == 1  # one notification
    assert "alert (plateau): m (+1 more)" in written and "spike" not in written
    assert not ring(app, [old])  # a replayed alert: silent
    headless: Any = SimpleNamespace(is_headless=True, _driver=driver)
    hung_up: Any = SimpleNamespace(is_headless=False, _driver=None)
    assert not ring(headless, [new]) and not ring(hung_up, [new])
    assert len(driver.written) == 1


def test_webhook_failures_are_one_warning_a_minute_with_a_count(tmp_path: Any) -> None:
    import socket

    from tui_trainer.sinks.webhook import WebhookSink

    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    warned: list[str] = []
    clock = Clock()
    sink = WebhookSink(f"http://127.0.0.1:{port}/t0ken", run_dir="r", preset="p",
                       warn=warned.append, timeout=2, clock=clock)  # fmt: skip
    alert = Alert("stall", "m", "warning", 1, 2, 5.0, 1.0, "none", time=0.0)
    for _ in range(3):
        sink(alert)
    sink.close()
    assert sink.failed == 3 and sink.posted == 0
    assert len(warned) == 1 and "http://127.0.0.1" in warned[0] and "t0ken" not in warned[0]
    clock.now += 61
    sink._failed("again")
    assert len(warned) == 2 and "2 more failed" in warned[1]


def test_the_serial_bus_drops_other_threads_events_after_the_run_finished() -> None:
    from tui_trainer.runlog.events import RunFinished
    from tui_trainer.runlog.summary import RunSummary

    seen: list[Event] = []
    bus = SerialBus([seen.append])
    bus.emit_while_open(LogMessage("info", "before"))
    bus.emit(RunFinished("completed", RunSummary(status="completed"), ""))
    bus.emit_while_open(LogMessage("warning", "after"))
    assert [type(e).__name__ for e in seen] == ["LogMessage", "RunFinished"]


def test_the_gpu_rule_watches_cuda_runs_by_default_and_others_when_asked() -> None:
    import torch

    from tui_trainer.alerting import gpu_reading

    default = AlertsConfig()
    assert gpu_reading(default, torch.device("cpu")) is None
    cuda = gpu_reading(default, torch.device("cuda", 1))
    assert isinstance(cuda, OwnGpuUtilization) and cuda.fallback == 1
    forced = gpu_reading(AlertsConfig.model_validate({"gpu_idle": {"enabled": True}}),
                         torch.device("cpu"))  # fmt: skip
    assert isinstance(forced, OwnGpuUtilization) and forced.fallback == 0
    off = AlertsConfig.model_validate({"gpu_idle": {"enabled": False}})
    assert gpu_reading(off, torch.device("cuda", 0)) is None


def test_the_headless_console_prints_the_alert_and_rings_only_on_a_terminal(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import io
    import time

    from tui_trainer.sinks.console import ConsoleSink

    monkeypatch.delenv("TMUX", raising=False)
    alert = Alert("plateau", "plateau: no better val_accuracy for 10 epochs", "warning", 12, 480,
                  10.0, 10.0, "none", time=time.time())  # fmt: skip
    for tty in (True, False):
        stream = io.StringIO()
        ConsoleSink(stream, tty=tty)(alert)
        out = stream.getvalue()
        assert "warning: alert (plateau): plateau: no better val_accuracy" in out
        assert ("\a" in out and "\x1b]777;notify;tui-trainer;" in out) is tty
