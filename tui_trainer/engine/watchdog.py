"""The watchdog: the `alerts:` rules over a run's event stream, alerts out, actions in.

`Watchdog` is a sink on rank 0's event bus: it feeds every event to the rules
(`engine.watch_rules`), emits an `Alert` for each trip and applies the rule's action through
`Control` (pause, checkpoint, stop, an LR change as steering), exactly as a key or `ctl` would.
Rules timed from outside the stream (a stalled step, an idle GPU) are checked by a daemon
thread every `tick` seconds; it only reads a clock and the rules' state, so it never blocks
the training loop, and it emits through the bus like the loop does. Buses that a second
thread emits into are serialised by `SerialBus`.

The GPU's utilisation comes in as a function (`utilization`): the engine does not read
telemetry itself (`tui_trainer.alerting` wires NVML in).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from tui_trainer.config.alerts import AlertsConfig
from tui_trainer.engine.watch_rules import (
    DataWait,
    EtaSlip,
    GpuIdle,
    NonFinite,
    Plateau,
    Spike,
    Stall,
    Trip,
)
from tui_trainer.runlog.control import Control, StopMode
from tui_trainer.runlog.events import (
    Alert,
    EpochEnd,
    Event,
    EventBus,
    LogMessage,
    RunFinished,
    RunStarted,
    Sink,
    StepProgress,
)


class SerialBus(EventBus):
    """An `EventBus` that delivers one event at a time when several threads emit (the
    training loop and the watchdog's thread). Re-entrant: a sink may emit from inside.

    `emit_while_open` is for threads other than the loop's: once a `RunFinished` has been
    delivered it drops the event, so nothing follows the run's last record."""

    def __init__(self, sinks: list[Sink] | None = None) -> None:
        super().__init__(sinks)
        self._lock = threading.RLock()
        self.finished = False

    def add(self, sink: Sink) -> None:
        """Subscribe `sink` after the others."""
        with self._lock:
            self._sinks.append(sink)

    def emit(self, event: Event) -> None:
        """Deliver `event` to every subscriber, after any delivery in progress."""
        with self._lock:
            super().emit(event)
            if isinstance(event, RunFinished):
                self.finished = True

    def emit_while_open(self, event: Event) -> None:
        """Like `emit`, unless the run's `RunFinished` was delivered already (then dropped)."""
        with self._lock:
            if not self.finished:
                self.emit(event)


class Watchdog:
    """The `alerts:` rules of one run (rank 0), as a sink; see the module's docstring."""

    def __init__(
        self,
        config: AlertsConfig,
        control: Control,
        emit: Callable[[Event], None],
        *,
        utilization: Callable[[], float | None] | None = None,
        tick: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        """`utilization` reads the run's GPU (%, None when unknown); without it, or with
        `gpu_idle.enabled` false, the GPU rule is off. `tick` is the thread's period."""
        self.config, self.control, self.emit = config, control, emit
        self.clock, self.wall, self.period = clock, wall, tick
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.epoch = 0
        self.step = 0
        self.alerts = 0
        self.last: Alert | None = None
        self._raised: dict[str, float] = {}  # rule → when (clock) it last raised an alert
        on = lambda name: config.enabled and config.rule(name).enabled  # noqa: E731
        self.nonfinite = NonFinite() if on("nonfinite") else None
        self.spike = Spike(config.spike) if on("spike") else None
        self.plateau = Plateau(config.plateau) if on("plateau") else None
        self.data_wait = DataWait(config.data_wait) if on("data_wait") else None
        self.eta = EtaSlip(config.eta) if on("eta") else None
        self.stall = Stall(config.stall) if on("stall") else None
        gpu = config.enabled and config.gpu_idle.enabled is not False
        self.gpu_idle = GpuIdle(config.gpu_idle, utilization) if gpu and utilization else None

    @property
    def timed(self) -> bool:
        """Whether a rule needs the thread (stall, GPU idle)."""
        return self.stall is not None or self.gpu_idle is not None

    # -- the event stream (the emitting thread) --------------------------------------------------
    def __call__(self, event: Event) -> None:
        """Feed one event to the rules; alert (and act) for each that trips."""
        if isinstance(event, Alert):
            return
        if isinstance(event, RunStarted):
            self.start()
        now = self.clock()
        trips: list[tuple[str, Trip]] = []
        with self._lock:
            if isinstance(event, StepProgress):
                self.epoch, self.step = event.epoch, event.global_step
            elif isinstance(event, EpochEnd):
                self.epoch = event.epoch
            if self.stall is not None:
                self.stall.observe(event, now)
            if self.gpu_idle is not None:
                self.gpu_idle.observe(event)
            for name in ("nonfinite", "spike", "plateau", "data_wait", "eta"):
                rule = getattr(self, name)
                trip = rule.observe(event) if rule is not None else None
                if trip is not None:
                    trips.append((name, trip))
        for name, trip in trips:  # outside the lock: the alert goes through the bus again
            self.raise_alert(name, trip)
        if isinstance(event, EpochEnd) and event.epoch < event.epochs:
            with self._lock:  # an alert before the next epoch's first progress is of that epoch
                self.epoch = event.epoch + 1
        if isinstance(event, RunFinished):
            self._stop.set()  # no more clock checks (`close` joins the thread)

    # -- the clock (the watchdog's thread) -------------------------------------------------------
    def start(self) -> None:
        """Start the thread that times the stall and GPU rules (when one is on)."""
        if self.timed and self._thread is None:
            self._thread = threading.Thread(target=self._run, name="watchdog", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.period):
            try:
                self.check_clock()
            except Exception as exc:  # a watchdog must never take the run down with it
                self.emit(LogMessage("warning", f"watchdog: {type(exc).__name__}: {exc}"))
                return

    def check_clock(self) -> None:
        """Check the timed rules once (the thread's step; tests call it directly)."""
        now = self.clock()
        trips: list[tuple[str, Trip]] = []
        with self._lock:
            for name in ("stall", "gpu_idle"):
                rule = getattr(self, name)
                trip = rule.tick(now) if rule is not None else None
                if trip is not None:
                    trips.append((name, trip))
        for name, trip in trips:
            self.raise_alert(name, trip)

    def close(self) -> None:
        """Stop the thread (the run ended)."""
        self._stop.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=2 * self.period + 1)

    # -- alerts and actions ----------------------------------------------------------------------
    def raise_alert(self, rule: str, trip: Trip) -> Alert | None:
        """Apply `rule`'s action, then emit its `Alert`; None while the rule is quiet
        (`repeat_after` seconds since its previous alert)."""
        now = self.clock()
        with self._lock:
            last = self._raised.get(rule)
            if last is not None and now - last < self.config.repeat_after:
                return None
            self._raised[rule] = now
            self.alerts += 1
        action = str(self.config.rule(rule).action)
        message = trip.message
        if action != "none":
            refused = self._act(action)
            message += f" → {action}" + (f" refused: {refused}" if refused else "")
        alert = Alert(
            rule=rule,
            message=message,
            level=trip.level,
            epoch=self.epoch,
            step=self.step,
            value=trip.value,
            threshold=trip.threshold,
            action=action,
            time=round(self.wall(), 3),
            bell=self.config.bell,
        )
        self.last = alert
        self.emit(alert)
        return alert

    def _act(self, action: str) -> str | None:
        """Do `action` through the control (as a key would); why not, when refused."""
        if action == "pause":
            self.control.pause()
        elif action == "checkpoint":
            self.control.request_checkpoint()
        elif action == "stop":
            self.control.request_stop(StopMode.STEP, status="stopped")
        else:  # lr=VALUE / lr=*FACTOR, validated by the config
            outcome, detail = self.control.submit_steer(action)
            if outcome == "refused":
                return detail
        return None

    def summary(self) -> dict[str, object]:
        """What summary.json says of the alerts: how many, and the last one."""
        last = self.last
        if last is None:
            return {"count": 0}
        return {
            "count": self.alerts,
            "last": {"rule": last.rule, "message": last.message, "time": last.time},
        }
