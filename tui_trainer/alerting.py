"""Wiring the watchdogs into a run (rank 0): the rules, the GPU reading, the webhook.

`session` calls `attach` once the run directory is open and its bus made: the watchdog and
the webhook join the bus after every other sink (so an alert follows the event that raised it
everywhere), and `Alerting.close` ends their threads when the run is over (the watchdog's
thread starts with the run's `RunStarted`). What they emit from their own threads after the
run's last record is dropped (`SerialBus.emit_while_open`). The engine's watchdog gets the
GPU's utilisation as a function read from NVML here, so the engine never imports telemetry.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from tui_trainer.config.alerts import AlertsConfig
from tui_trainer.engine.watchdog import SerialBus, Watchdog
from tui_trainer.runlog.control import Control
from tui_trainer.runlog.events import Alert, Event, LogMessage
from tui_trainer.sinks.webhook import WebhookSink


@dataclass
class Alerting:
    """The watchdog of one run and what it posts to (both on the run's bus)."""

    watchdog: Watchdog | None
    webhook: WebhookSink | None

    def close(self) -> None:
        """End the threads (the webhook posts what is queued first, briefly)."""
        if self.watchdog is not None:
            self.watchdog.close()
        if self.webhook is not None:
            self.webhook.close()


def gpu_reading(config: AlertsConfig, device: torch.device) -> Callable[[], float | None] | None:
    """What the `gpu_idle` rule reads: the run's GPU through NVML (None: the rule is off).

    `enabled: null` watches only a CUDA run; `true` on another device watches NVML GPU 0."""
    rule = config.gpu_idle
    if not config.enabled or rule.enabled is False:
        return None
    if device.type != "cuda" and rule.enabled is None:
        return None
    from tui_trainer.telemetry.own_gpu import OwnGpuUtilization  # NVML only when watched

    index = device.index if device.type == "cuda" and device.index is not None else 0
    return OwnGpuUtilization(index)


def attach(
    config: AlertsConfig,
    *,
    bus: SerialBus,
    control: Control,
    device: torch.device,
    run_dir: str,
    preset: str,
    summary: dict[str, Any],
) -> Alerting:
    """The watchdog and webhook of a run, subscribed to `bus`; `summary` (the run's extra
    summary keys) gets `alerts`: how many were raised and the last one."""
    if not config.enabled:
        return Alerting(None, None)
    emit = bus.emit_while_open
    dog = Watchdog(config, control, emit, utilization=gpu_reading(config, device))

    def tally(event: Event) -> None:
        if isinstance(event, Alert):
            summary["alerts"] = dog.summary()

    webhook = None
    bus.add(dog)
    bus.add(tally)
    if config.webhook:
        webhook = WebhookSink(
            config.webhook,
            run_dir=run_dir,
            preset=preset,
            warn=lambda message: emit(LogMessage("warning", message)),
        )
        bus.add(webhook)
    return Alerting(dog, webhook)
