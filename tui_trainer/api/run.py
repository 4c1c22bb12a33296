"""`Run`: one script run, written to a run directory and controlled like the engine's runs.

The training thread owns everything here; other threads (the control socket's server, signal
handlers) only call `Control`, which `iterate` polls at each step boundary through the engine's
own `ControlLink` (pause blocks there off the clock, checkpoint-now and steering are honoured in
arrival order, a stop at the step ends the loop). Events go through the engine's `EventBus` to
the run directory writer (`sinks.files.RunDirWriter`) and the control socket (`RunServer`).
"""

from __future__ import annotations

import atexit
import os
import sys
import time
import traceback
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import torch

from tui_trainer.api.control import ScriptControl
from tui_trainer.api.directory import (
    claim_run_dir,
    config_document,
    plain_config,
    reopen_run_dir,
    steps_done,
)
from tui_trainer.api.scalars import Scalars, batch_size, epoch_values
from tui_trainer.api.signals import install
from tui_trainer.api.steering import ScriptSteering
from tui_trainer.api.tally import Tally
from tui_trainer.api.validation import loader_length, reporter, validation_pass
from tui_trainer.config.tasks import monitor_mode
from tui_trainer.engine.distributed import SINGLE
from tui_trainer.engine.polling import ControlLink, StopNow
from tui_trainer.engine.reporting import ValidationReporter
from tui_trainer.outcome import exit_code
from tui_trainer.remote import remote_sinks
from tui_trainer.rundir import RunDirLock
from tui_trainer.runlog.control import StopMode
from tui_trainer.runlog.events import (
    CheckpointSaved,
    EventBus,
    LogMessage,
    RunFinished,
    RunStarted,
)
from tui_trainer.runlog.reader import RunRecord
from tui_trainer.runlog.status import Status
from tui_trainer.sinks.files import RunDirWriter, write_config

T = TypeVar("T")

PROGRESS_INTERVAL = 0.25
"""Seconds between progress events (each converts the logged values once), as the engine's."""
LAST = "last.pt"
"""The checkpoint `finish` asks for (checkpoint-now's are `step-NNNNNNNN.pt`)."""


def init(
    name: str = "script",
    config: Any = None,
    out: str | Path = "runs",
    resume: str | Path | None = None,
    *,
    monitor: str = "val_loss",
    mode: str | None = None,
) -> Run:
    """Start a run and return it (see `Run`).

    The run directory is `out/<name>/<timestamp>`, or `TUI_TRAINER_RUN_DIR` under
    `tui-trainer exec`; `resume=RUN_DIR` continues a script run there (`run.epochs` starts at
    its next epoch, `run.resumed_from` is its `last.pt`; loading it is the script's part).
    `config` (a dict, argparse Namespace or dataclass) goes to config.yaml under `script:`.
    `monitor`/`mode` pick the best epoch among `log_epoch`'s metrics (mode defaults from the
    name: losses and errors min, else max). Bad input: UserError, nothing written."""
    user = plain_config(config)
    picked = mode or monitor_mode(monitor)
    if picked not in ("min", "max"):
        from tui_trainer.errors import UserError

        raise UserError(f"init(mode=...): expected 'min' or 'max', got {mode!r}")
    record: RunRecord | None = None
    if resume is not None:
        run_dir, lock, record = reopen_run_dir(resume)
    else:
        run_dir, lock = claim_run_dir(name, out)
    try:
        return Run(name, user, run_dir, lock, monitor=monitor, mode=picked, previous=record)
    except BaseException:
        lock.release()  # a run that could not start leaves the directory to the next one
        raise


class Run:
    """A script's run (`tui_trainer.init`): `epochs`, `iterate`, `log`, `log_epoch`, `finish`.

    Use it as a context manager (an exception inside fails the run, writes traceback.txt and
    is re-raised) or call `finish`; a script that ends without either is finished at exit.
    """

    def __init__(
        self,
        name: str,
        config: dict[str, Any],
        run_dir: Path,
        lock: RunDirLock,
        *,
        monitor: str,
        mode: str,
        previous: RunRecord | None = None,
    ) -> None:
        self.name, self.run_dir = name, run_dir
        self.monitor, self.mode = monitor, mode
        self.control = ScriptControl()
        self._user_config = config
        self._epochs_planned: int | None = None
        self._writer = RunDirWriter(
            run_dir,
            name,
            config=self._config_doc(),
            lock=lock,
            on_recreated=self.control.request_checkpoint,
            on_lost=lambda _why: self.control.request_stop(StopMode.STEP, status="failed"),
        )
        self._write_config()
        self._sinks: list[Any] = remote_sinks(self.control)
        self._bus = EventBus([self._writer, *self._sinks])
        self._writer.warn_with(lambda message: self._bus.emit(LogMessage("warning", message)))
        self._link = ControlLink(
            self.control, SINGLE, torch.device("cpu"), self._bus.emit, on_steer=self._steer
        )
        self._tally = Tally(monitor, mode, self._link.clock())
        self._steering = ScriptSteering(lambda: (self._tally.global_step, self._tally.epoch + 1))
        self.control.steer_check = self._steering.check
        self.resumed_from: Path | None = None
        if previous is not None:
            self._resume(previous)
        self._checkpoint_fn: Callable[[Path], None] | None = None
        self._scalars = Scalars()
        self._t0 = time.monotonic()
        self._last_event = 0.0
        self._stopped = False
        self._finished: RunFinished | None = None
        self._restore_signals = install(self.control)
        self._previous_hook = sys.excepthook
        sys.excepthook = self._excepthook
        atexit.register(self._at_exit)
        self._bus.emit(
            RunStarted(
                run_dir=str(run_dir),
                preset=name,
                config=self._config_doc(),
                device="script",
                precision="script",
                epochs=0,
                start_epoch=self._tally.epochs_done,
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
        if previous is not None:
            self._bus.emit(LogMessage("info", f"resumed after epoch {self._tally.epochs_done}"))

    def _resume(self, previous: RunRecord) -> None:
        wall = previous.wall_seconds()
        rows = previous.epoch_rows
        self._tally.restore(rows, steps_done(previous), wall or 0.0)
        self._writer.load_history(self._tally.history)
        last = self.run_dir / "checkpoints" / LAST
        self.resumed_from = last if last.is_file() else None

    @property
    def global_step(self) -> int:
        """Steps done in the whole run (a resumed run's earlier ones included)."""
        return self._tally.global_step

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
        """`range(n)` from the first epoch not done yet (a resumed run's next one); a stop ends
        it at the next epoch boundary; `ctl epochs=N` changes its length."""
        tally = self._tally
        self._steering.epochs = self._epochs_planned = int(n)
        self._write_config()
        epoch = tally.epochs_done
        while not self._stopped and epoch < (self._steering.epochs or 0):
            tally.epoch = self._steering.epoch = epoch
            tally.epoch_started = self._link.clock()
            yield epoch
            tally.epochs_done = max(tally.epochs_done, epoch + 1)
            epoch += 1
            if self._stopped or self._link.stop_requested():
                self._stopped = True
                break
        self._epochs_planned = self._steering.epochs
        self._steering.epochs = None

    def iterate(self, loader: Iterable[T]) -> Iterator[T]:
        """Yield `loader`'s batches, timing the wait for each; pause blocks here (off the
        training clock), a stop at the step ends the loop, `ctl stop` ends it at its end."""
        tally = self._tally
        tally.steps, tally.step = loader_length(loader), 0
        if self._stopped:
            return
        it = iter(loader)
        clock, control = self._link.clock, self.control
        while True:
            if control.needs_poll():
                try:
                    self._link.poll(tally.epoch, tally.step, self._checkpoint)
                except StopNow:
                    self._stopped = True
                    return
            t0 = clock()
            try:
                batch = next(it)
            except StopIteration:
                break
            tally.data_wait += clock() - t0
            size = batch_size(batch)
            yield batch
            tally.step += 1
            tally.global_step += 1
            tally.samples += size or 0
            if time.monotonic() - self._last_event >= PROGRESS_INTERVAL:
                self._progress()
        self._progress()
        if control.stop_mode is not StopMode.NONE:  # `ctl stop`: at this epoch's end
            self._stopped = True

    def validate(self, loader: Iterable[T]) -> Iterator[T]:
        """Yield `loader`'s batches as this epoch's validation pass: the console shows its
        progress (`val b/B`, its clock and rate) and the pass is off the training clock."""
        report = self.validation(loader_length(loader))
        return validation_pass(loader, report, self._link)

    def validation(self, batches: int) -> ValidationReporter:
        """A reporter for a validation pass of `batches` batches (0: unknown), for loops that
        `validate` cannot wrap (an adapter's hooks): call it with the batches done so far, and
        `.done(n)` when the loop ends."""
        epochs = self._steering.epochs or self._tally.epoch + 1
        return reporter(self._bus.emit, self._tally.epoch + 1, epochs, batches, PROGRESS_INTERVAL)

    # -- logging -------------------------------------------------------------------------------
    def log(self, **scalars: Any) -> None:
        """Log this step's values: numbers or scalar tensors, kept on their device (no host
        sync) until a progress event is due; `loss` is the progress line's loss."""
        self._scalars.add(scalars)

    def log_epoch(self, **metrics: Any) -> None:
        """One epoch line: `metrics` (val_* and others), with the epoch's train loss and LR.
        ValueError for a value that is not a number and for a name the line keeps for itself
        (`epoch`, `epoch_seconds`, `best_metric`, ...)."""
        values = epoch_values(metrics)
        lr, epochs = self._steering.lr(), self._steering.epochs
        self._bus.emit(self._tally.epoch_end(self._link.clock(), values, lr, epochs))

    def _progress(self) -> None:
        values = self._scalars.take() if not self._scalars.empty else {}
        lr, epochs = self._steering.lr(), self._steering.epochs
        event = self._tally.progress(self._link.clock(), values, lr, epochs)
        if event is not None:
            self._bus.emit(event)
        self._last_event = time.monotonic()

    # -- control -------------------------------------------------------------------------------
    def _steer(self, texts: list[str]) -> None:
        for event in self._steering.apply(texts):
            self._bus.emit(event)
            if event.what == "epochs":
                self._epochs_planned = int(event.new)
                self._write_config()

    def _checkpoint(self, reason: str) -> None:
        if reason in ("stop", "signal"):
            return  # the run ends at this boundary: `finish` saves last.pt
        name = f"step-{self._tally.global_step:08d}.pt"
        self._save(self.run_dir / "checkpoints" / name, reason)

    def _save(self, path: Path, reason: str) -> None:
        if self._checkpoint_fn is None:
            message = "checkpoint asked for, but the script set no run.on_checkpoint(fn)"
            self._bus.emit(LogMessage("warning", message))
            return
        with self._link.off_the_clock():
            self._checkpoint_fn(path)
        tally = self._tally
        self._bus.emit(CheckpointSaved(str(path), reason, tally.epochs_done, tally.global_step))

    # -- the end -------------------------------------------------------------------------------
    def finish(self, status: str | None = None, *, error: BaseException | None = None) -> None:
        """End the run: `last.pt` (when a checkpoint function is set), summary.json, the socket.

        `status` defaults to `completed`, `stopped` after a ctl stop, `interrupted` after a
        signal (the process then exits 128+N once the run directory is written); `error`
        fails the run with its traceback (traceback.txt)."""
        if self._finished is not None:
            return
        if error is None and not self._scalars.empty:
            self._progress()
        if status is None:
            stopping = self._stopped or self.control.stop_mode is not StopMode.NONE
            status = self.control.stop_status if stopping else "completed"
        tb: str | None = None
        message: str | None = None
        if error is not None:
            status = "failed"
            message = f"{type(error).__name__}: {error}"
            tb = "".join(traceback.format_exception(type(error), error, error.__traceback__))
        if status != "failed" and self._checkpoint_fn is not None:
            try:
                reason = "signal" if self.control.exit_signal else "stop"
                self._save(self.run_dir / "checkpoints" / LAST, reason)
            except Exception as exc:  # the run's record still gets written
                status, message = "failed", f"checkpoint function failed: {exc!r}"
                tb = traceback.format_exc()
        self._finished = self._end(status, message, tb)
        code = exit_code(status, self.control.exit_signal)
        if self.control.exit_signal and status == "interrupted" and code:
            raise SystemExit(code)

    def _end(self, status: str, error: str | None, tb: str | None) -> RunFinished:
        wall = time.monotonic() - self._t0
        train = self._link.clock() - self._tally.start
        summary = self._tally.summary(status, wall, train, error)
        summary["run_dir"] = str(self.run_dir)
        finished = RunFinished(Status.parse(status), summary, "", error=error, traceback=tb)
        self._bus.emit(finished)
        for sink in self._sinks:  # the socket and its pointer go before the lock
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
        """An exception no one caught, without `with`: the run failed (then Python's report)."""
        if self._finished is None:
            if isinstance(exc, KeyboardInterrupt):
                self._finished = self._end("interrupted", None, None)
            else:
                text = "".join(traceback.format_exception(kind, exc, tb))
                self._finished = self._end("failed", f"{kind.__name__}: {exc}", text)
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

    def _write_config(self) -> None:
        self._writer.config = self._config_doc()
        write_config(self.run_dir, self._writer.config, self.name)

    def _config_doc(self) -> dict[str, Any]:
        return config_document(
            self.name,
            self._user_config,
            epochs=self._epochs_planned,
            monitor=self.monitor,
            mode=self.mode,
        )
