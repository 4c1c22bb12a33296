"""`Run`: one script run, written to a run directory and controlled like the engine's runs.

The training thread owns everything here; other threads (the control socket's server, signal
handlers) only call `Control`, which `iterate` polls at each step boundary through the engine's
own `ControlLink` (pause blocks there off the clock, checkpoint-now and steering are honoured in
arrival order, a stop at the step ends the loop). Events go through the engine's `EventBus` to
the run directory writer (`sinks.files.RunDirWriter`) and the control socket (`RunServer`).
"""

from __future__ import annotations

import atexit
import math
import os
import sys
import time
import traceback
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import torch

from tui_trainer.api.control import ScriptControl
from tui_trainer.api.directory import claim_run_dir, config_document, plain_config
from tui_trainer.api.scalars import Scalars, batch_size
from tui_trainer.api.signals import install
from tui_trainer.api.steering import ScriptSteering
from tui_trainer.config.tasks import monitor_mode
from tui_trainer.engine.distributed import SINGLE
from tui_trainer.engine.polling import ControlLink, StopNow
from tui_trainer.outcome import exit_code
from tui_trainer.remote import remote_sinks
from tui_trainer.runlog.control import StopMode
from tui_trainer.runlog.events import (
    CheckpointSaved,
    EpochEnd,
    Event,
    EventBus,
    LogMessage,
    RunFinished,
    RunStarted,
    StepProgress,
)
from tui_trainer.runlog.summary import RunSummary
from tui_trainer.sinks.files import RunDirWriter, write_config

T = TypeVar("T")

PROGRESS_INTERVAL = 0.25
"""Seconds between progress events (each converts the logged values once), as the engine's."""


def init(
    name: str = "script",
    config: Any = None,
    out: str | Path = "runs",
    resume: str | Path | None = None,
    *,
    monitor: str = "val_loss",
    mode: str | None = None,
) -> Run:
    """Start a run: its directory (`out/<name>/<timestamp>`, or `TUI_TRAINER_RUN_DIR` under
    `tui-trainer exec`), its control socket and signal handlers. `monitor`/`mode` pick the best
    epoch among `log_epoch`'s metrics (mode defaults from the name: `*loss*` min, else max).

    `resume` is not supported yet (a UserError says so)."""
    if resume is not None:
        from tui_trainer.errors import UserError

        raise UserError("init(resume=...): resuming a script run is not supported yet")
    return Run(name, plain_config(config), out, monitor=monitor, mode=mode or monitor_mode(monitor))


class Run:
    """A script's run: see `init`. Use it as a context manager, or call `finish`."""

    def __init__(
        self, name: str, config: dict[str, Any], out: str | Path, *, monitor: str, mode: str
    ) -> None:
        self.name = name
        self.monitor, self.mode = monitor, mode
        self.control = ScriptControl()
        self.run_dir, lock = claim_run_dir(name, out)
        self._user_config = config
        self._write_config(None)
        self._writer = RunDirWriter(
            self.run_dir,
            name,
            config=self._config_doc(None),
            lock=lock,
            on_recreated=self.control.request_checkpoint,
            on_lost=lambda _why: self.control.request_stop(StopMode.STEP, status="failed"),
        )
        self._sinks: list[Any] = remote_sinks(self.control)
        self._bus = EventBus([self._writer, *self._sinks])
        self._writer.warn_with(lambda message: self._bus.emit(LogMessage("warning", message)))
        self._steering = ScriptSteering(lambda: (self.global_step, self._epoch + 1))
        self.control.steer_check = self._steering.check
        self._link = ControlLink(
            self.control, SINGLE, torch.device("cpu"), self._bus.emit, on_steer=self._steer
        )
        self._checkpoint_fn: Callable[[Path], None] | None = None
        self._scalars = Scalars()
        self._t0 = time.monotonic()
        self.global_step = 0
        self._epoch = 0  # 0-based epoch in progress
        self._epochs_done = 0
        self._step = 0  # steps done in this epoch
        self._steps = 0  # len(loader) of this epoch, 0 when unknown
        self._history: list[dict[str, Any]] = []
        self._best: tuple[float | None, int | None] = (None, None)
        self._samples = 0
        self._data_wait = 0.0
        self._window = (self._link.clock(), 0, 0)  # (time, steps, samples) at the last event
        self._last_event = 0.0
        self._epoch_started = self._link.clock()
        self._stopped = False
        self._finished: RunFinished | None = None
        self._restore_signals = install(self.control)
        self._previous_hook = sys.excepthook
        sys.excepthook = self._excepthook
        atexit.register(self._at_exit)
        self._bus.emit(
            RunStarted(
                run_dir=str(self.run_dir),
                preset=name,
                config=self._config_doc(None),
                device="script",
                precision="script",
                epochs=0,
                start_epoch=0,
                steps_per_epoch=0,
                trainable_params=0,
                total_params=0,
                task="classification",
                class_names=[],
            )
        )
        for sink in self._sinks:
            if isinstance(problem := getattr(sink, "error", None), str):
                self._bus.emit(LogMessage("warning", problem))

    # -- setup ---------------------------------------------------------------------------------
    def track_optimizer(self, optimizer: Any) -> None:
        """Steering `lr=...` (ctl, the `l` key) changes this optimizer's param groups at the
        next step boundary; progress lines show its LR."""
        self._steering.optimizer = optimizer

    def on_checkpoint(self, fn: Callable[[Path], None]) -> None:
        """`fn(path)` saves a checkpoint at `path` (under `checkpoints/`); it is called on the
        training thread for checkpoint-now (ctl, `c`, SIGUSR1) and with `last.pt` at the end."""
        self._checkpoint_fn = fn

    # -- loops ---------------------------------------------------------------------------------
    def epochs(self, n: int) -> Iterator[int]:
        """`range(n)` that a stop ends at the next boundary and `ctl epochs=N` can lengthen."""
        self._steering.epochs = int(n)
        self._write_config(int(n))
        epoch = self._epochs_done
        while not self._stopped and epoch < (self._steering.epochs or 0):
            self._epoch = self._steering.epoch = epoch
            self._epoch_started = self._link.clock()
            yield epoch
            if self._epochs_done <= epoch:
                self._epochs_done = epoch + 1
            epoch += 1
            if self._stopped or self._link.stop_requested():
                self._stopped = True
                break
        self._steering.epochs = None

    def iterate(self, loader: Iterable[T]) -> Iterator[T]:
        """Yield `loader`'s batches; pause blocks here, a stop ends the loop at a step."""
        try:
            self._steps = len(loader)  # type: ignore[arg-type]
        except TypeError:
            self._steps = 0
        self._step = 0
        if self._stopped:
            return
        it = iter(loader)
        clock = self._link.clock
        while True:
            if self.control.needs_poll():
                try:
                    self._link.poll(self._epoch, self._step, self._checkpoint)
                except StopNow:
                    self._stopped = True
                    return
            t0 = clock()
            try:
                batch = next(it)
            except StopIteration:
                break
            self._data_wait += clock() - t0
            size = batch_size(batch)
            yield batch
            self._step += 1
            self.global_step += 1
            self._samples += size or 0
            if time.monotonic() - self._last_event >= PROGRESS_INTERVAL:
                self._progress()
        self._progress()
        if self.control.stop_mode is not StopMode.NONE:  # `ctl stop`: at this epoch's end
            self._stopped = True

    # -- logging -------------------------------------------------------------------------------
    def log(self, **scalars: Any) -> None:
        """Log this step's values (tensors stay on their device until a progress event)."""
        self._scalars.add(scalars)

    def log_epoch(self, **metrics: Any) -> None:
        """One epoch line: `metrics` (val_* and others) with the epoch's train loss and LR."""
        values = {k: float(v) for k, v in metrics.items()}
        epoch = self._epoch + 1
        row: dict[str, Any] = {"epoch": epoch}
        if self._train_loss is not None and "train_loss" not in values:
            row["train_loss"] = self._train_loss
        row.update(values)
        lr = self._steering.lr()
        if lr is not None and "lr" not in row:
            row["lr"] = lr
        row["epoch_seconds"] = round(self._link.clock() - self._epoch_started, 3)
        value = row.get(self.monitor)
        best_value, best_epoch = self._best
        is_best = (
            isinstance(value, float)
            and math.isfinite(value)
            and (
                best_value is None
                or (value < best_value if self.mode == "min" else value > best_value)
            )
        )
        if is_best:
            best_value, best_epoch = value, epoch
            self._best = (best_value, best_epoch)
        self._history.append(row)
        self._epochs_done = max(self._epochs_done, epoch)
        self._bus.emit(
            EpochEnd(
                epoch=epoch,
                epochs=self._steering.epochs or epoch,
                metrics=row,
                seconds=row["epoch_seconds"],
                is_best=bool(is_best),
                best_metric=self.monitor,
                best_value=best_value,
                best_epoch=best_epoch,
            )
        )

    _train_loss: float | None = None

    def _progress(self) -> None:
        now = self._link.clock()
        then, steps0, samples0 = self._window
        dt = now - then
        values = self._scalars.take() if not self._scalars.empty else {}
        loss = values.pop("loss", math.nan)
        if math.isfinite(loss):
            self._train_loss = loss
        steps = self.global_step - steps0
        if steps <= 0 and not values:
            return
        lr = self._steering.lr()
        self._bus.emit(
            StepProgress(
                epoch=self._epoch + 1,
                epochs=self._steering.epochs or self._epoch + 1,
                step=self._step,
                steps=self._steps or self._step,
                global_step=self.global_step,
                loss=loss,
                lr=lr if lr is not None else math.nan,
                samples_per_second=(self._samples - samples0) / dt
                if dt > 0 and self._samples > samples0
                else None,
                elapsed=round(now - self._t0, 3),
                steps_per_second=steps / dt if dt > 0 and steps > 0 else None,
                epoch_elapsed=round(now - self._epoch_started, 3),
                loss_parts=values or None,
            )
        )
        self._window = (now, self.global_step, self._samples)
        self._last_event = time.monotonic()

    # -- control -------------------------------------------------------------------------------
    def _steer(self, texts: list[str]) -> None:
        for event in self._steering.apply(texts):
            self._bus.emit(event)

    def _checkpoint(self, reason: str) -> None:
        if reason in ("stop", "signal"):
            return  # the run ends at this boundary: `finish` saves last.pt
        name = f"step-{self.global_step:08d}.pt"
        self._save(self.run_dir / "checkpoints" / name, reason)

    def _save(self, path: Path, reason: str) -> None:
        if self._checkpoint_fn is None:
            self._bus.emit(
                LogMessage(
                    "warning", "checkpoint asked for, but the script set no run.on_checkpoint(fn)"
                )
            )
            return
        with self._link.off_the_clock():
            self._checkpoint_fn(path)
        self._bus.emit(CheckpointSaved(str(path), reason, self._epochs_done, self.global_step))

    # -- the end -------------------------------------------------------------------------------
    def finish(self, status: str | None = None, *, error: BaseException | None = None) -> None:
        """End the run: `last.pt` (when a checkpoint function is set), summary.json, the socket.

        `status` defaults to `completed`, `stopped` after a ctl stop, `interrupted` after a
        signal (the process then exits 128+N once the run directory is written)."""
        if self._finished is not None:
            return
        if error is None and not self._scalars.empty:
            self._progress()
        if status is None:
            status = (
                self.control.stop_status
                if self._stopped or (self.control.stop_mode is not StopMode.NONE)
                else "completed"
            )
        tb: str | None = None
        message: str | None = None
        if error is not None:
            status = "failed"
            message = f"{type(error).__name__}: {error}"
            tb = "".join(traceback.format_exception(type(error), error, error.__traceback__))
        if status != "failed" and self._checkpoint_fn is not None:
            try:
                self._save(self.run_dir / "checkpoints" / "last.pt", "stop")
            except Exception as exc:  # the run's record still gets written
                status, message = "failed", f"checkpoint function failed: {exc!r}"
                tb = traceback.format_exc()
        self._finished = self._end(status, message, tb)
        code = exit_code(status, self.control.exit_signal)
        if self.control.exit_signal and status == "interrupted" and code:
            raise SystemExit(code)

    def _end(self, status: str, error: str | None, tb: str | None) -> RunFinished:
        wall = time.monotonic() - self._t0
        train = self._link.clock() - self._t0
        summary: RunSummary = {
            "status": status,
            "epochs_completed": len(self._history),
            "best": {"metric": self.monitor, "value": self._best[0], "epoch": self._best[1]},
            "final": self._history[-1] if self._history else {},
            "wall_seconds": round(wall, 3),
            "wall_seconds_total": round(wall, 3),
            "train_seconds": round(train, 3),
            "samples_per_second": round(self._samples / train, 3)
            if train > 0 and self._samples
            else None,
            "global_step": self.global_step,
            "run_dir": str(self.run_dir),
        }
        summary["data_wait_seconds"] = round(self._data_wait, 3)  # type: ignore[typeddict-unknown-key]
        if error:
            summary["error"] = error
        finished = RunFinished(status, summary, "", error=error, traceback=tb)
        self._bus.emit(finished)
        for sink in self._sinks:
            settle = getattr(sink, "settle", None)
            if callable(settle):
                settle()
        self._writer.close()
        self._restore_signals()
        if sys.excepthook == self._excepthook:
            sys.excepthook = self._previous_hook
        atexit.unregister(self._at_exit)
        return finished

    def _excepthook(self, kind: type[BaseException], exc: BaseException, tb: Any) -> None:
        if self._finished is None and not isinstance(exc, KeyboardInterrupt):
            self._finished = self._end(
                "failed",
                f"{kind.__name__}: {exc}",
                "".join(traceback.format_exception(kind, exc, tb)),
            )
        elif self._finished is None:
            self._finished = self._end("interrupted", None, None)
        self._previous_hook(kind, exc, tb)

    def _at_exit(self) -> None:
        """The script ended without `finish`: finish now (exit 128+N after a signal)."""
        if self._finished is not None:
            return
        try:
            self.finish()
        except SystemExit as exit_:
            for stream in (sys.stdout, sys.stderr):
                stream.flush()
            os._exit(int(exit_.code or 0))

    def __enter__(self) -> Run:
        return self

    def __exit__(self, kind: Any, exc: BaseException | None, _tb: Any) -> None:
        if exc is None or (isinstance(exc, SystemExit) and not exc.code):
            self.finish()
        elif isinstance(exc, KeyboardInterrupt):
            self.finish("interrupted")
        elif isinstance(exc, SystemExit):
            self.finish("failed")
        else:
            self.finish(error=exc)

    def __repr__(self) -> str:
        return f"Run({str(self.run_dir)!r})"

    def _write_config(self, epochs: int | None) -> None:
        write_config(self.run_dir, self._config_doc(epochs), self.name)
        if hasattr(self, "_writer"):
            self._writer.config = self._config_doc(epochs)

    def _config_doc(self, epochs: int | None) -> dict[str, Any]:
        return config_document(
            self.name, self._user_config, epochs=epochs, monitor=self.monitor, mode=self.mode
        )


_ = Event  # re-exported type for readers of this module
