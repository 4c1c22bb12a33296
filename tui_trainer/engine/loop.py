"""The training loop: `run` → epochs → `train_epoch` (micro-batches, windows) → `validate`.

The loop never syncs the host per step: running sums stay on the device (`EpochMeter`) and
become Python floats only when a progress event is due (time-throttled) or an epoch ends. It
polls `Control` at optimizer-step boundaries (`ControlLink`).

Several processes (torchrun) run the same loop with a `DistContext`: the model is wrapped in
DistributedDataParallel, each rank iterates its shard of the epoch's permutation, gradients are
all-reduced once per accumulation window (`no_sync` on the other micro-batches), epoch sums and
validation metrics are reduced over the ranks, rank 0 alone writes checkpoints, and control
requests reach every rank through a flags broadcast every `control_every` optimizer steps.
With the single-process context every collective is a no-op.

The policies live beside it, one job each: `window` (accumulation), `step` (backward, optimizer
step), `meter` (epoch sums), `faults` (non-finite, out of memory), `freeze` (phases), `polling`
(control), `reporting` (progress events), `validation`, `saving` and `checkpoint` (saves,
retention), `run_state` (checkpoint contents, composed from the pieces' own `state_dict`),
`run_end` (the final event), `steer` (changes at step boundaries; the run's length is
`schedule.epochs`). `stateful.CurrentConfig` holds the config in force for all of them.
"""

from __future__ import annotations

import math
import time
import traceback
from pathlib import Path
from typing import Any

import torch

from tui_trainer.config.schema import RunConfig
from tui_trainer.engine import checkpoint as ckpt
from tui_trainer.engine import faults, heap, run_state
from tui_trainer.engine.build import make_optimizer, shard, wrap
from tui_trainer.engine.clip import GradClipper
from tui_trainer.engine.data.bundle import DataBundle
from tui_trainer.engine.distributed import SINGLE, DistContext
from tui_trainer.engine.freeze import FreezePlan, frozen_batchnorm_modules
from tui_trainer.engine.lr_schedule import LRSchedule
from tui_trainer.engine.meter import EpochMeter
from tui_trainer.engine.model_parts import BuiltModel, count_params, has_batchnorm
from tui_trainer.engine.pictures.recorder import PictureRecorder
from tui_trainer.engine.pictures.shots import Collector
from tui_trainer.engine.polling import ControlLink, StopNow
from tui_trainer.engine.progress import Progress
from tui_trainer.engine.reporting import ProgressReporter, ValidationReporter
from tui_trainer.engine.run_end import finished_event
from tui_trainer.engine.saving import RunSaver
from tui_trainer.engine.stateful import CurrentConfig, RngState, ScalerState, StepCounts
from tui_trainer.engine.steer import Steerer
from tui_trainer.engine.step import Stepper
from tui_trainer.engine.sync_bn import convert_sync_batchnorm
from tui_trainer.engine.tasks import build_task
from tui_trainer.engine.time_split import TimeSplit
from tui_trainer.engine.toggles import Toggles
from tui_trainer.engine.user_code import with_user_metrics
from tui_trainer.engine.validation import validate
from tui_trainer.engine.window import steps_in_epoch, window_of
from tui_trainer.errors import UserError
from tui_trainer.runlog.control import Control, StopMode
from tui_trainer.runlog.events import (
    ConfigChanged,
    EpochEnd,
    EventBus,
    LogMessage,
    LRPlan,
    RunFinished,
)


class Trainer:
    """One training run from its start (or a resumed position) to the end, emitting events.

    Construction checks everything that can be bad input (checkpoint architecture, sharding)
    and raises UserError; `run` trains and never raises for a training failure.
    """

    def __init__(
        self,
        config: RunConfig,
        *,
        data: DataBundle,
        built: BuiltModel,
        device: torch.device,
        control: Control,
        run_dir: Path,
        resume: dict[str, Any] | None = None,
        dist: DistContext = SINGLE,
    ) -> None:
        self.current = CurrentConfig(config)  # the one holder of the config while running
        self.data, self.device, self.dist = data, device, dist
        self.control, self.run_dir = control, run_dir
        self.model = built.model.to(device)  # the bare module: state dicts, freezing, validation
        self.setup_notes: list[str] = []
        if config.sync_bn and dist.enabled:
            self.model, layers = convert_sync_batchnorm(self.model, device)
            if layers:
                self.setup_notes.append(f"sync_bn: {layers} BatchNorm layer(s) synchronised")
        self.toggles = Toggles(self.current, self.model, device, data.num_classes)
        self.setup_notes += self.toggles.setup_notes
        self.task = build_task(config)
        self.evaluator = with_user_metrics(
            self.task.evaluator(data.num_classes, device, dist),
            config,
            data.num_classes,
            device,
            dist,
        )
        self.schedule = LRSchedule(config.scheduler, config.optim.lr, config.epochs)
        scaler_on = config.precision == "fp16" and device.type == "cuda"
        self.scaler = torch.amp.GradScaler("cuda", enabled=scaler_on)
        self.progress = Progress()
        self.monitor, self.mode = config.monitor()
        min_batch = 2 if has_batchnorm(self.model) else 1
        rank = dist.rank if dist.enabled else None
        self.oom = faults.OutOfMemoryPolicy(self.current, self.progress, min_batch, device, rank)
        self.plan = FreezePlan(self.model, config.freeze, built.head, built.backbone)
        self.steering = Steerer(
            self,
            schedule=self.schedule,
            position=self.progress,
            plan=self.plan,
            config=self.current,
            control=control,
        )
        if resume:  # a steered unfreeze is restored before `apply` and the param groups
            run_state.restore_position(self.progress, self.steering, resume)
        self.epoch = self.progress.epoch  # the epoch in hand
        self.plan.apply(self.model, self.epoch)
        self.optimizer = make_optimizer(
            config.optim, self.plan.param_groups(self.model, self.epoch)
        )
        self.meter = EpochMeter(device, dist)
        self.counts = StepCounts()  # optimizer steps GradScaler skipped
        self.split = TimeSplit(device, off_clock=self._off_clock, enabled=dist.is_main)
        self.parts = run_state.RunParts(
            self.model, self.optimizer, ScalerState(self.scaler), self.schedule, self.steering,
            self.progress, self.meter, self.plan, self.counts, RngState(), self.toggles,
            self.current, dist, data.class_names, self.split,
        )  # fmt: skip
        self.guard = faults.NonFiniteGuard(config.nonfinite_limit)
        self.resumed_from: str | None = None
        self.checkpoints: ckpt.Checkpointer | None = None  # set when the run starts
        self.pictures: PictureRecorder | None = None  # rank 0, set when the run starts
        if resume:
            self.setup_notes += run_state.restore(self.parts, resume, batch_size=self.batch_size())
            self.resumed_from = str(resume.get("path"))
        self.stepper = Stepper(
            self.toggles.training_net(wrap(self.model, dist, device)),
            self.task.loss(),
            self.task,
            self.optimizer,
            self.scaler,
            device,
            config.precision,
            GradClipper(config.optim),
        )
        self.reporter = ProgressReporter(
            self.meter,
            self.progress,
            self.schedule,
            self.current,
            lr=self.lr,
            grad_norm=self.stepper.grad_norm_now,
            time_parts=self.split.take_window,
        )
        # Fail before anything is written when the data cannot be split between processes.
        self.shard_val = dist.enabled and getattr(self.evaluator, "sharded_validation", False)
        try:
            self.steps_per_epoch(config.data.batch_size)
            if self.shard_val:
                shard(data.val, dist, pad=False)
        except NotImplementedError as exc:
            raise UserError(f"{config.data.name}: {exc}", key="data.name") from None

    # -- what the front ends read ----------------------------------------------------------------
    @property
    def config(self) -> RunConfig:
        """The config in force (steering, oom=reduce and compile fallbacks change it)."""
        return self.current.value

    @property
    def frozen(self) -> list[str]:
        """The names of the parameters the freeze plan freezes (empty: nothing frozen)."""
        return self.plan.names

    def steps_per_epoch(self, batch_size: int) -> int:
        """Micro-batches per epoch on each rank at `batch_size`."""
        return len(shard(self.data.make_train(batch_size), self.dist, pad=True))

    def batch_size(self) -> int:
        """The per-process micro-batch size of the epoch in hand."""
        c = self.config
        return self.plan.batch_size(c.data.batch_size, c.freeze.batch_size, self.epoch)

    # -- the run ---------------------------------------------------------------------------------
    def run(self, bus: EventBus, extra: dict[str, Any] | None = None) -> RunFinished:
        """Train to the end (or a stop), emit the final event and return it; never raises.

        `extra` joins the summary (run_dir, replay_command, ...).
        """
        self.bus = bus
        self.link = ControlLink(
            self.control, self.dist, self.device, bus.emit, self.steering.apply_live
        )
        self.control.steer_check = self.steering.check
        self.steering.emit = bus.emit
        self.checkpoints = ckpt.Checkpointer(
            self.run_dir / "checkpoints",
            bus.emit,
            is_main=self.dist.is_main,
            keep=self.config.checkpoint.keep,
            protect=self.resumed_from,
        )
        self.pictures = (
            PictureRecorder(
                self.run_dir,
                self.config.pictures,
                self.config.task,
                self.data,
                bus.emit,
                stride=self.dist.world_size if self.shard_val else 1,
            )
            if self.dist.is_main
            else None
        )
        where = lambda: (self.epoch, self.batch_size())  # noqa: E731
        self.saver = RunSaver(self.checkpoints, self.parts, self.link, where)
        status, error, tb = "completed", None, None
        t_start, self.train_seconds = time.monotonic(), 0.0
        self._t_epoch: float | None = None  # the epoch in progress started (training clock)
        self.toggles.listen(self._note_config)  # a compile fallback: warn, record
        try:
            if self.resumed_from:
                line = run_state.message(
                    self.parts, self.resumed_from, monitor=self.monitor, epoch=self.epoch
                )
                bus.emit(LogMessage("info", line))
            with heap.set_up_objects_frozen():
                self._epochs()
            stopped_early = len(self.progress.history) < self.schedule.epochs
            if self.control.stop_mode is not StopMode.NONE and stopped_early:
                status = self.control.stop_status
        except StopNow:
            status = self.control.stop_status
        except Exception as exc:  # the run failed; report it, keep the app alive
            status, error, tb = "failed", faults.describe_failure(exc), traceback.format_exc()
            bus.emit(LogMessage("error", error))
        finally:
            self.data.close()  # loader workers end with the run, whatever ended it
        self.steering.finish(status)  # no more changes; config.yaml complete
        if self._t_epoch is not None:  # left mid-epoch: the steps that ran count too
            self.train_seconds += self.link.clock() - self._t_epoch
        finished = finished_event(self, status, error, tb, time.monotonic() - t_start, extra)
        bus.emit(finished)
        return finished

    def _epochs(self) -> None:
        p = self.progress
        while p.epoch < self.schedule.epochs:  # steering may change the length
            epoch = self.epoch = p.epoch
            if self.plan.unfreezes_at(self.model, epoch):
                self.unfreeze()
            t0 = self.link.clock()  # the training clock: pauses and checkpoint saves off it
            self.data.set_epochs(self.schedule.epochs)
            while True:
                try:
                    train = self.train_epoch(epoch)
                    break
                except faults.ReduceBatch as reduce:
                    for event in self.oom.reduce(reduce.batch_size):
                        self.bus.emit(event)
            collector = self.pictures.collector() if self.pictures is not None else None
            val = self.validate(collector)
            if self.pictures is not None and collector is not None:
                self.pictures.record(epoch + 1, collector)  # before the epoch's record
            seconds = self.link.clock() - t0
            metrics = {
                "epoch": epoch + 1,
                **train,
                **val,
                "lr": self.lr(),
                "epoch_seconds": round(seconds, 4),
            }
            if self.schedule.epoch_end(val.get("val_loss", math.nan)):
                lr = self.schedule.lr_at(epoch + 1)
                self.bus.emit(LogMessage("info", f"plateau: learning rate reduced to {lr:.3g}"))
                self.bus.emit(LRPlan(self.schedule.plan(), "plateau"))
            is_best = p.update_best(metrics.get(self.monitor), self.mode, epoch)
            p.history.append(metrics)
            p.epoch, p.batch = epoch + 1, 0
            self.meter.reset()
            self.bus.emit(
                EpochEnd(
                    epoch + 1,
                    self.schedule.epochs,
                    metrics,
                    seconds,
                    is_best,
                    self.monitor,
                    p.best_value,
                    p.best_epoch,
                )
            )
            self.saver.epoch_end(epoch, is_best, self.config.checkpoint.every_epochs)
            stop = self.toggles.early_stop(p.history, self.monitor, self.mode, self.schedule.epochs)
            if stop:
                self.bus.emit(LogMessage("info", stop))
                return
            if self.link.stop_requested():
                return

    def train_epoch(self, epoch: int) -> dict[str, float]:
        """One epoch of micro-batches from the saved position; the epoch's train metrics."""
        cfg, device, p = self.config, self.device, self.progress
        batch_size = self.batch_size()
        loader = shard(self.data.make_train(batch_size), self.dist, pad=True)
        loader.set_epoch(epoch)
        sizes = loader.batch_sizes()
        steps = len(sizes)
        opt_steps = steps_in_epoch(steps, cfg.accumulate)
        self.train_mode()
        self.meter.begin()
        t_epoch, start = self.link.clock(), p.batch
        self._t_epoch = t_epoch  # a stop or failure mid-epoch still counts it
        split = self.split  # where the time goes: each mark ends a phase (engine.time_split)
        split.start()
        for i, (x, y) in enumerate(loader.iterate(start), start=start):
            split.mark("data")
            x = x.to(device, non_blocking=True)
            y = self.task.to_device(y, device)
            split.mark("copy")
            x, targets, labels = self.toggles.prepare_batch(x, y)
            w = window_of(i, sizes, cfg.accumulate)
            if i in (w.start, start):
                lr = self.schedule.lr_at(epoch + w.index / opt_steps)
                for group in self.optimizer.param_groups:
                    group["lr"] = lr
                self.meter.open_window()
            n = self.task.count(y)
            defer = self.dist.enabled and not w.is_last(i)  # DDP syncs on the window's last
            result = self.stepper.backward(x, targets, n / w.samples, defer_sync=defer)
            if result is None:
                self.stepper.discard(free_cache=True)
                self.oom.fail(batch_size, self.saver.now)
            split.mark("compute")
            loss, outputs, parts = result
            if isinstance(outputs, torch.Tensor):
                outputs = outputs.detach()
            hits, units = self.task.train_hits(outputs, labels)
            self.meter.add(loss, n, hits, units, parts)
            split.mark("other")
            if not w.is_last(i):
                continue
            if cfg.on_nonfinite == "skip" and not self.meter.window_finite():
                self.stepper.discard()
                self.bus.emit(LogMessage("warning", self.guard.skip(epoch, i + 1)))
            else:
                self.counts.skipped_steps += self.stepper.step()
                self.toggles.after_step(self.model)
                self.guard.ok()
                self.meter.commit_window()
            split.mark("optimizer")
            p.global_step += 1
            p.samples += self.meter.w_seen * self.dist.world_size
            p.batch = i + 1
            every = cfg.checkpoint.every_steps
            if every and p.global_step % every == 0:
                self.saver.periodic(f"step_{p.global_step:08d}.pt", self.meter.state_dict())
            if self.dist.is_main:  # when due, and at each epoch's end: every epoch reports
                self.reporter.at_step(
                    self.bus.emit,
                    epoch,
                    i + 1,
                    steps,
                    lambda: self.link.clock() - t_epoch,
                    self.train_seconds,
                )
            self.steering.at_step(epoch + (w.index + 1) / opt_steps)
            if not self.dist.enabled or i + 1 == steps or p.global_step % cfg.control_every == 0:
                self.link.poll(epoch, i + 1, self.saver.now)
            split.mark("other")
        mean_loss, metric = self.meter.totals()
        if not math.isfinite(mean_loss):
            raise faults.NonFiniteLoss(f"non-finite training loss in epoch {epoch + 1}")
        self.train_seconds += self.link.clock() - t_epoch
        self._t_epoch = None
        line = {"train_loss": mean_loss}
        line.update({f"train_loss_{name}": v for name, v in self.meter.part_totals().items()})
        if self.task.train_metric:
            line[self.task.train_metric] = metric
        return line

    def validate(self, collector: Collector | None = None) -> dict[str, float]:
        """Validation on the bare module (its EMA copy with `ema`); sharded: over all ranks.
        `collector` (rank 0, epoch ends only) takes pictures of the pass."""
        reduce = (lambda v: self.dist.sum_floats(v, self.device)) if self.shard_val else None
        progress = None
        bus = getattr(self, "bus", None)  # None: validated outside `run` (a test, a check)
        if bus is not None and self.dist.is_main:  # the pass's progress, as the steps' is
            progress = ValidationReporter(
                bus.emit,
                self.epoch + 1,
                self.schedule.epochs,
                len(self.data.val),
                self.current.value.progress.interval,
            )
        return validate(
            self.toggles.eval_model(self.model),
            self.data.val,
            self.evaluator,
            self.stepper.criterion,
            self.task,
            device=self.device,
            precision=self.config.precision,
            eval_batch=self.toggles.eval_batch,
            reduce=reduce,
            collector=collector,
            progress=progress,
        )

    # -- what the loop does at its turns ---------------------------------------------------------
    def _off_clock(self) -> float:
        """Seconds the training clock has stood still (pauses, saves): `TimeSplit` leaves the
        segments they fall in out."""
        return self.link.paused_total

    def _note_config(self, note: str) -> None:
        """A change made while running (compile fell back): one warning, noted in config.yaml."""
        self.current.add_note(note)
        self.bus.emit(LogMessage("warning", note))
        self.bus.emit(ConfigChanged(self.config.model_dump(mode="json"), note))

    # -- what steering asks of the loop (`steer.SteerHost`) ---------------------------------------
    def lr(self) -> float:
        """The LR the optimizer uses now."""
        return self.optimizer.param_groups[0]["lr"]

    def train_mode(self) -> None:
        """Training mode for the net; frozen BatchNorm stays in eval mode (running statistics)."""
        self.stepper.net.train()
        for module in frozen_batchnorm_modules(self.model):
            module.eval()

    def unfreeze(self, when: str = "") -> None:
        """The frozen parameters join the optimizer now (the plan says they train)."""
        self.plan.apply(self.model, self.epoch)
        # DDP fixes its parameters (and a compiled graph its trainable set): wrap again.
        self.stepper.net = self.toggles.training_net(wrap(self.model, self.dist, self.device))
        n = self.plan.join_optimizer(self.model, self.optimizer)
        trainable, total = count_params(self.model)
        self.bus.emit(
            LogMessage(
                "info",
                f"backbone unfrozen: {n:,} parameters join the optimizer ({trainable:,}/"
                f"{total:,} trainable), batch size {self.config.data.batch_size}{when}",
            )
        )
