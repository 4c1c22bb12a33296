"""The training loop: epochs of micro-batches, accumulation, AMP, schedules, freezing, events.

The loop never syncs the host per step: running sums stay on the device and become Python
floats only when a progress event is due (time-throttled) or an epoch ends. It polls the
`Control` object at optimizer-step boundaries.

Several processes (torchrun) run the same loop with a `DistContext`: the model is wrapped in
DistributedDataParallel, each rank iterates its shard of the epoch's permutation, gradients are
all-reduced once per accumulation window (`no_sync` on the other micro-batches), epoch sums and
validation metrics are reduced over the ranks, rank 0 alone writes checkpoints, and control
requests reach every rank through a flags broadcast every `control_every` optimizer steps.
With the single-process context every collective is a no-op.
"""

from __future__ import annotations

import contextlib
import math
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from tui_trainer.config.schema import RunConfig
from tui_trainer.engine import checkpoint as ckpt
from tui_trainer.engine.control import Control, StopMode
from tui_trainer.engine.data.bundle import DataBundle
from tui_trainer.engine.device import autocast
from tui_trainer.engine.distributed import SINGLE, DistContext
from tui_trainer.engine.events import (
    CheckpointSaved,
    ConfigChanged,
    EpochEnd,
    EventBus,
    LogMessage,
    Paused,
    Resumed,
    RunFinished,
    StepProgress,
)
from tui_trainer.engine.freeze import frozen_batchnorm_modules, frozen_names, set_frozen
from tui_trainer.engine.lr_schedule import LRSchedule
from tui_trainer.engine.models import BuiltModel, count_params, has_batchnorm
from tui_trainer.engine.sync_bn import convert_sync_batchnorm
from tui_trainer.engine.tasks import build_task
from tui_trainer.engine.validation import validation_pass
from tui_trainer.errors import TrainingError, UserError


class NonFiniteLoss(TrainingError):
    """The training loss became NaN or infinite."""


class OutOfMemory(TrainingError):
    """A step ran out of memory and the batch could not (or may not) be reduced."""


class _StopNow(Exception):
    """Internal: leave the epoch loop at a step boundary."""


_STOP_CODES = {StopMode.NONE: 0, StopMode.EPOCH: 1, StopMode.STEP: 2}
_STOP_MODES = {v: k for k, v in _STOP_CODES.items()}


@dataclass(frozen=True)
class ControlFlags:
    """Rank 0's view of `Control` at a step boundary, the same on every rank."""

    paused: bool = False
    checkpoint: bool = False
    stop: StopMode = StopMode.NONE


class _ReduceBatch(Exception):
    """Internal: oom=reduce asks the epoch to restart at half the batch size."""

    def __init__(self, batch_size: int) -> None:
        super().__init__(batch_size)
        self.batch_size = batch_size


def state_mismatch(own: dict[str, torch.Tensor], other: dict[str, Any]) -> list[str]:
    """Human-readable differences between a model's state dict and a checkpoint's."""
    out = [f"missing {k}" for k in own if k not in other]
    out += [f"unexpected {k}" for k in other if k not in own]
    out += [
        f"{k} {tuple(other[k].shape)} vs {tuple(v.shape)}"
        for k, v in own.items()
        if k in other and isinstance(other[k], torch.Tensor) and other[k].shape != v.shape
    ]
    return out


def _is_oom(exc: BaseException) -> bool:
    """CUDA's OutOfMemoryError, or an allocator's 'out of memory' RuntimeError."""
    if isinstance(exc, torch.OutOfMemoryError):
        return True
    text = str(exc).lower()
    return isinstance(exc, RuntimeError) and (
        "out of memory" in text or "can't allocate memory" in text
    )


@dataclass
class Progress:
    """Where the run is; saved in checkpoints so a resume continues from the same place."""

    epoch: int = 0  # 0-based epoch being trained
    batch: int = 0  # micro-batches done in that epoch
    global_step: int = 0  # optimizer steps done in the run
    samples: int = 0  # training samples processed in this process
    best_value: float | None = None
    best_epoch: int | None = None
    history: list[dict[str, float]] = field(default_factory=list)
    # Partial-epoch sums carried across a mid-epoch resume (device tensors until synced).
    epoch_loss_sum: float | torch.Tensor = 0.0
    epoch_correct: float | torch.Tensor = 0.0
    epoch_seen: int = 0
    epoch_units: int = 0  # samples (or pixels) behind epoch_correct


def make_optimizer(config: RunConfig, groups: list[list[nn.Parameter]]) -> torch.optim.Optimizer:
    """The configured optimizer over parameter groups (empty groups are kept, for resume)."""
    o = config.optim
    param_groups = [{"params": g} for g in groups]
    if o.name == "sgd":
        return torch.optim.SGD(
            param_groups,
            lr=o.lr,
            momentum=o.momentum,
            weight_decay=o.weight_decay,
            nesterov=o.nesterov and o.momentum > 0,
        )
    cls = torch.optim.Adam if o.name == "adam" else torch.optim.AdamW
    return cls(param_groups, lr=o.lr, betas=o.betas, weight_decay=o.weight_decay)


class Trainer:
    """Runs one training run from start (or a resumed position) to the end, emitting events."""

    def __init__(
        self,
        config: RunConfig,
        *,
        data: DataBundle,
        built: BuiltModel,
        device: torch.device,
        bus: EventBus,
        control: Control,
        run_dir: Path,
        resume: dict[str, Any] | None = None,
        dist: DistContext = SINGLE,
    ) -> None:
        self.config = config
        self.dist = dist
        self.data = data
        self.device = device
        self.bus = bus
        self.control = control
        self.run_dir = run_dir
        self.ckpt_dir = run_dir / "checkpoints"
        self.model = built.model.to(device)  # the bare module: state dicts, freezing, validation
        self.setup_notes: list[str] = []
        if config.sync_bn and dist.enabled:
            self.model, layers = convert_sync_batchnorm(self.model, device)
            if layers:
                self.setup_notes.append(f"sync_bn: {layers} BatchNorm layer(s) synchronised")
        self.head = built.head
        self.precision = config.precision
        self.task = build_task(config)
        self.criterion = self.task.loss()
        self.evaluator = self.task.evaluator(data.num_classes, device)
        self.schedule = LRSchedule(config.scheduler, config.optim.lr, config.epochs)
        self.scaler = torch.amp.GradScaler(
            "cuda", enabled=self.precision == "fp16" and device.type == "cuda"
        )
        self.skipped_steps = torch.zeros((), device=device, dtype=torch.int64)
        self.progress = Progress()
        self.monitor, self.mode = config.monitor()
        self.resumed_from: str | None = None
        self.paused_total = 0.0  # seconds spent paused; the training clock excludes them
        self.nonfinite_streak = 0
        self.nonfinite_skipped = 0
        # Progress events are throttled across epochs (short epochs still report); the first
        # optimizer step reports at once.
        self._last_emit = 0.0
        self.min_batch = 2 if has_batchnorm(self.model) else 1

        fz = config.freeze
        self.frozen = frozen_names(self.model, fz, self.head) if fz.enabled else []
        start_epoch = int(resume["progress"]["epoch"]) if resume else 0
        self.phase = "frozen" if self.frozen and self._frozen_at(start_epoch) else "full"
        params = dict(self.model.named_parameters())
        frozen_set = set(self.frozen)
        base_group = [p for n, p in params.items() if n not in frozen_set]
        late_group = [p for n, p in params.items() if n in frozen_set]
        if self.frozen and fz.epochs is not None:
            # Two phases: the frozen parameters join as their own group at unfreeze time; on a
            # resume after that point the group is already there.
            groups = [base_group, late_group if self.phase == "full" else []]
        elif self.frozen:
            groups = [base_group]
        else:
            groups = [list(params.values())]
        set_frozen(self.model, self.frozen, self.phase == "frozen")
        self.late_group = late_group
        self.optimizer = make_optimizer(config, groups)
        self.frozen_bn: list[nn.Module] = (
            frozen_batchnorm_modules(self.model) if self.phase == "frozen" else []
        )
        if resume:
            self._restore(resume)
        self._global_partial: dict[str, float] | None = None  # what a DDP checkpoint stores
        self.net: nn.Module = self.model  # what training steps call: DDP-wrapped when distributed
        self._wrap()
        # Fail before anything is written when the data cannot be split between processes.
        self.shard_val = dist.enabled and getattr(self.evaluator, "sharded_validation", False)
        try:
            self._shard(data.make_train(config.data.batch_size), pad=True)
            if self.shard_val:
                self._shard(data.val, pad=False)
        except NotImplementedError as exc:
            raise UserError(f"data.name: {config.data.name}: {exc}") from None

    # -- set-up helpers --------------------------------------------------------------------------
    def _wrap(self) -> None:
        """(Re)wrap the model in DDP; again after unfreezing, since DDP fixes its parameters."""
        if not self.dist.enabled:
            return
        ids = [self.device.index] if self.device.type == "cuda" else None
        self.net = DistributedDataParallel(self.model, device_ids=ids)

    def _shard(self, loader: Any, *, pad: bool) -> Any:
        """This rank's share of `loader` (the loader itself in a single-process run)."""
        if not self.dist.enabled:
            return loader
        shard = getattr(loader, "shard", None)
        if shard is None:
            raise NotImplementedError(f"{type(loader).__name__} cannot be sharded across processes")
        return shard(self.dist.rank, self.dist.world_size, pad=pad)

    def steps_per_epoch(self, batch_size: int) -> int:
        """Micro-batches per epoch on each rank at `batch_size`."""
        return len(self._shard(self.data.make_train(batch_size), pad=True))

    def _frozen_at(self, epoch: int) -> bool:
        epochs = self.config.freeze.epochs
        return epochs is None or epoch < epochs

    def _restore(self, state: dict[str, Any]) -> None:
        mismatch = state_mismatch(self.model.state_dict(), state["model"])
        if mismatch:
            shown = "; ".join(mismatch[:4]) + (
                f" (+{len(mismatch) - 4} more)" if len(mismatch) > 4 else ""
            )
            raise UserError(
                f"--resume: checkpoint '{state.get('path')}' is for another architecture: {shown}"
            )
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        if state.get("scaler"):
            self.scaler.load_state_dict(state["scaler"])
        self.schedule.load_state_dict(state["schedule"])
        p = state["progress"]
        self.progress = Progress(
            epoch=int(p["epoch"]),
            batch=int(p["batch"]),
            global_step=int(p["global_step"]),
            best_value=p["best_value"],
            best_epoch=p["best_epoch"],
            history=list(p["history"]),
            epoch_loss_sum=float(p["epoch_loss_sum"]),
            epoch_correct=float(p["epoch_correct"]),
            epoch_seen=int(p["epoch_seen"]),
            epoch_units=int(p.get("epoch_units", p["epoch_seen"])),
        )
        if not self.dist.is_main:  # the checkpoint holds all ranks' sums: rank 0 carries them
            self.progress.epoch_loss_sum = self.progress.epoch_correct = 0.0
            self.progress.epoch_seen = self.progress.epoch_units = 0
        # p.batch counts one rank's micro-batches: with another process count (or batch size)
        # keep the position inside the epoch in samples.
        saved_world = int(state.get("world_size", 1))
        saved_batch = int(state.get("batch_size", self._phase_batch_size()))
        world, batch = self.dist.world_size, self._phase_batch_size()
        if (saved_world, saved_batch) != (world, batch) and self.progress.batch:
            done = self.progress.batch * saved_batch * saved_world
            self.progress.batch = done // (batch * world)
            if done % (batch * world):
                self.setup_notes.append(
                    f"resumed with {world} process(es) × batch {batch} instead of {saved_world} × "
                    f"{saved_batch}: {done % (batch * world)} sample(s) of this epoch repeat"
                )
        self.skipped_steps.fill_(int(state.get("skipped_steps", 0)))
        ckpt.restore_rng_state(state["rng"])
        self.resumed_from = str(state.get("path"))

    # -- checkpoints -----------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """Everything a resume needs, as weights_only-loadable values."""
        p = self.progress
        partial = self._global_partial or {
            "epoch_loss_sum": p.epoch_loss_sum,
            "epoch_correct": p.epoch_correct,
            "epoch_seen": p.epoch_seen,
            "epoch_units": p.epoch_units,
        }
        return {
            "format": ckpt.FORMAT,
            "version": ckpt.FORMAT_VERSION,
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scaler": self.scaler.state_dict() if self.scaler.is_enabled() else {},
            "schedule": self.schedule.state_dict(),
            "progress": {
                "epoch": p.epoch,
                "batch": p.batch,
                "global_step": p.global_step,
                "best_value": p.best_value,
                "best_epoch": p.best_epoch,
                "history": p.history,
                **partial,
            },
            "phase": self.phase,
            "world_size": self.dist.world_size,
            "batch_size": self._phase_batch_size(),
            "skipped_steps": int(self.skipped_steps),
            "rng": ckpt.rng_state(),
            "config": self.config.model_dump(mode="json"),
            "class_names": self.data.class_names,
        }

    def save(self, reason: str, names: list[str]) -> bool:
        """Write the current state to each file name under checkpoints/; False if not written.

        Only rank 0 writes (the others return True at once); no collective happens in here.
        """
        try:
            return self._save(reason, names) if self.dist.is_main else True
        finally:
            self._global_partial = None

    def _save(self, reason: str, names: list[str]) -> bool:
        if not ckpt.all_finite(self.model):
            self.bus.emit(LogMessage("warning", "checkpoint skipped: the weights are not finite"))
            return False
        state = self.state_dict()
        for name in names:
            path = self.ckpt_dir / name
            try:
                ckpt.atomic_save(state, path)
            except OSError as exc:
                self.bus.emit(
                    LogMessage("error", f"checkpoint {path} not written: {exc.strerror or exc}")
                )
                return False
            self.bus.emit(
                CheckpointSaved(str(path), reason, self.progress.epoch, self.progress.global_step)
            )
        return True

    def _periodic(self, name: str) -> None:
        if self.save("periodic", [name]) and self.dist.is_main:
            keep = self.config.checkpoint.keep
            prefix = name.split("_")[0] + "_"
            old = sorted(self.ckpt_dir.glob(f"{prefix}*.pt"))
            for path in old[:-keep]:
                if self.resumed_from and Path(self.resumed_from).resolve() == path.resolve():
                    continue
                path.unlink(missing_ok=True)

    # -- the loop --------------------------------------------------------------------------------
    def run(self) -> RunFinished:
        """Train to the end (or a stop); always returns the final event (never raises)."""
        status, error, tb = "completed", None, None
        self.t_start = time.monotonic()
        self.train_seconds = 0.0
        try:
            self._loop()
            stopped_early = len(self.progress.history) < self.config.epochs
            if self.control.stop_mode is not StopMode.NONE and stopped_early:
                status = self.control.stop_status
        except _StopNow:
            status = self.control.stop_status
        except Exception as exc:  # the run failed; report it, keep the app alive
            status = "failed"
            error = _describe_failure(exc)
            tb = traceback.format_exc()
            self.bus.emit(LogMessage("error", error))
        report = self.evaluator.report(self.data.class_names) if status != "failed" else ""
        return RunFinished(status, self._summary(status, error), report, error, tb)

    def _loop(self) -> None:
        cfg = self.config
        if self.resumed_from:
            p = self.progress
            best = (
                f", best {self.monitor} {p.best_value:.4f} (epoch {p.best_epoch})"
                if p.best_value is not None
                else ""
            )
            restored = "model, optimizer, LR schedule, RNG states" + (
                ", GradScaler" if self.scaler.is_enabled() else ""
            )
            self.bus.emit(
                LogMessage(
                    "info",
                    f"resumed from {self.resumed_from}: {restored}; epoch {p.epoch + 1}/"
                    f"{cfg.epochs} at batch {p.batch}, step {p.global_step}, phase {self.phase}"
                    f"{best}, {len(p.history)} epoch(s) of history",
                )
            )
        for epoch in range(self.progress.epoch, cfg.epochs):
            self.progress.epoch = epoch
            if self.phase == "frozen" and not self._frozen_at(epoch):
                self._unfreeze()
            t0 = time.monotonic()
            while True:
                try:
                    train = self._train_epoch(epoch)
                    break
                except _ReduceBatch as reduce:
                    self._reduce_batch(reduce.batch_size)
            val = self._validate(epoch)
            seconds = time.monotonic() - t0
            metrics = {
                "epoch": epoch + 1,
                **train,
                **val,
                "lr": self.optimizer.param_groups[0]["lr"],
                "epoch_seconds": round(seconds, 4),
            }
            if self.schedule.epoch_end(val.get("val_loss", math.nan)):
                lr = self.schedule.lr_at(epoch + 1)
                self.bus.emit(LogMessage("info", f"plateau: learning rate reduced to {lr:.3g}"))
            is_best = self._update_best(metrics, epoch)
            p = self.progress
            p.history.append(metrics)
            p.epoch, p.batch = epoch + 1, 0
            p.epoch_loss_sum = p.epoch_correct = 0.0
            p.epoch_seen = p.epoch_units = 0
            self.bus.emit(
                EpochEnd(
                    epoch + 1,
                    cfg.epochs,
                    metrics,
                    seconds,
                    is_best,
                    self.monitor,
                    p.best_value,
                    p.best_epoch,
                )
            )
            names = ["last.pt"] + (["best.pt"] if is_best else [])
            self.save("epoch", names)
            every = cfg.checkpoint.every_epochs
            if every and (epoch + 1) % every == 0:
                self._periodic(f"epoch_{epoch + 1:04d}.pt")
            if self._control_flags(take_checkpoint=False).stop is not StopMode.NONE:
                return

    def _unfreeze(self) -> None:
        set_frozen(self.model, self.frozen, False)
        self._wrap()  # DDP only syncs the parameters that required grad when it was built
        self.frozen_bn = []
        group = self.optimizer.param_groups[1]
        group["params"] = list(self.late_group)
        n = sum(p.numel() for p in self.late_group)
        self.phase = "full"
        trainable, total = count_params(self.model)
        self.bus.emit(
            LogMessage(
                "info",
                f"backbone unfrozen: {n:,} parameters join the optimizer "
                f"({trainable:,}/{total:,} trainable), batch size {self.config.data.batch_size}",
            )
        )

    def _set_train_mode(self) -> None:
        self.net.train()
        for module in self.frozen_bn:
            module.eval()

    def _phase_batch_size(self) -> int:
        """The per-process micro-batch size of the current phase."""
        cfg = self.config
        if self.phase == "frozen":
            return cfg.freeze.batch_size or cfg.data.batch_size
        return cfg.data.batch_size

    def _train_epoch(self, epoch: int) -> dict[str, float]:
        cfg, device, p = self.config, self.device, self.progress
        batch_size = self._phase_batch_size()
        loader = self._shard(self.data.make_train(batch_size), pad=True)
        loader.set_epoch(epoch)
        sizes = loader.batch_sizes()
        steps = len(sizes)
        acc = cfg.accumulate
        opt_steps = math.ceil(steps / acc)
        self._set_train_mode()
        loss_sum = torch.tensor(p.epoch_loss_sum, device=device)
        correct = torch.tensor(p.epoch_correct, device=device)
        seen = p.epoch_seen
        counted = p.epoch_units  # units behind the running train metric (samples, or pixels)
        emit_sum = torch.zeros((), device=device)
        emit_n = 0
        # The current accumulation window's sums; they join the epoch's at the window's end.
        w_loss = torch.zeros((), device=device)
        w_hits = torch.zeros((), device=device)
        w_seen = w_units = 0
        t_epoch = self._clock()
        start = p.batch
        window_samples = 0
        for i, (x, y) in enumerate(loader.iterate(start), start=start):
            x = x.to(device, non_blocking=True)
            y = y.to(device, non_blocking=True)
            w_start = (i // acc) * acc
            w_end = min(w_start + acc, steps)
            if i in (w_start, start):
                window_samples = sum(sizes[w_start:w_end])
                lr = self.schedule.lr_at(epoch + (i // acc) / opt_steps)
                for group in self.optimizer.param_groups:
                    group["lr"] = lr
                w_loss.zero_()
                w_hits.zero_()
                w_seen = w_units = 0
            n = y.shape[0]
            oom = None
            # DDP all-reduces gradients on the window's last micro-batch only.
            defer = self.dist.enabled and i + 1 < w_end
            no_sync = self.net.no_sync if defer else contextlib.nullcontext
            try:
                with no_sync():  # type: ignore[operator]
                    with autocast(device, self.precision):
                        logits = self.net(x)
                        loss = self.criterion(logits, y)
                    # Scale so the window's summed gradient equals the gradient of its mean
                    # loss (DDP then averages the ranks' equal-sized windows).
                    self.scaler.scale(loss * (n / window_samples)).backward()
            except Exception as exc:  # handled outside the except block, so memory is freed
                if not _is_oom(exc):
                    raise
                oom = str(exc).strip().splitlines()[0] if str(exc).strip() else "out of memory"
            if oom is not None:
                logits = loss = None
                self._out_of_memory(oom, batch_size)
            w_loss += loss.detach().float() * n
            hits, units = self.task.train_hits(logits.detach(), y)
            w_hits += hits
            w_seen += n
            w_units += units
            if i + 1 < w_end:
                continue
            if cfg.on_nonfinite == "skip" and not self._all_finite(w_loss):
                self.optimizer.zero_grad(set_to_none=True)
                self._skip_nonfinite(epoch, i + 1)
            else:
                self._optimizer_step()
                self.nonfinite_streak = 0
                loss_sum += w_loss
                correct += w_hits
                emit_sum += w_loss
                seen += w_seen
                counted += w_units
                emit_n += w_seen
            p.global_step += 1
            p.samples += w_seen * self.dist.world_size
            p.batch = i + 1
            p.epoch_loss_sum, p.epoch_seen = loss_sum, seen  # tensors until synced
            p.epoch_correct, p.epoch_units = correct, counted
            every = cfg.checkpoint.every_steps
            if every and p.global_step % every == 0:
                self._sync_partial()
                self._periodic(f"step_{p.global_step:08d}.pt")
            now = time.monotonic()
            if self.dist.is_main and now - self._last_emit >= cfg.progress.interval:
                dt = self._clock() - t_epoch
                self._emit_progress(epoch, i + 1, steps, emit_sum, emit_n, dt)
                emit_sum.zero_()
                emit_n, self._last_emit = 0, now
            if not self.dist.enabled or i + 1 == steps or p.global_step % cfg.control_every == 0:
                self._poll_control(epoch, i + 1)
        # One reduction: every rank's samples count (padding repeats included) in the mean.
        total_loss, total_seen, total_correct, total_counted = self.dist.sum_floats(
            [float(loss_sum), seen, float(correct), counted], device
        )
        mean_loss = total_loss / max(total_seen, 1)
        if not math.isfinite(mean_loss):
            raise NonFiniteLoss(f"non-finite training loss in epoch {epoch + 1}")
        self.train_seconds += self._clock() - t_epoch
        return {
            "train_loss": mean_loss,
            self.task.train_metric: total_correct / max(total_counted, 1),
        }

    def _all_finite(self, value: torch.Tensor) -> bool:
        """Whether `value` is finite on every rank (one small sync; on_nonfinite=skip only)."""
        bad = (~torch.isfinite(value)).to(torch.float32).reshape(1)
        return float(self.dist.all_reduce_sum(bad)) == 0.0

    def _skip_nonfinite(self, epoch: int, step: int) -> None:
        """on_nonfinite=skip: count the dropped step; stop after too many in a row."""
        self.nonfinite_skipped += 1
        self.nonfinite_streak += 1
        limit = self.config.nonfinite_limit
        self.bus.emit(
            LogMessage(
                "warning",
                f"non-finite loss at epoch {epoch + 1}, step {step}: optimizer step skipped "
                f"({self.nonfinite_streak} in a row, limit {limit})",
            )
        )
        if self.nonfinite_streak >= limit:
            raise NonFiniteLoss(
                f"{limit} non-finite losses in a row at epoch {epoch + 1}, step {step} "
                "(lower optim.lr, or try precision=fp32)"
            )

    def _out_of_memory(self, message: str, batch_size: int) -> None:
        """Recover from an out-of-memory error at a step: reduce the batch, or save and stop."""
        self.optimizer.zero_grad(set_to_none=True)
        if self.device.type == "cuda":
            torch.cuda.empty_cache()
        half, acc = batch_size // 2, self.config.accumulate
        if self.dist.enabled:  # the other ranks are inside a collective: no checkpoint, no retry
            raise OutOfMemory(
                f"out of memory at batch size {batch_size} on {self.device} (rank "
                f"{self.dist.rank}): try data.batch_size={half} accumulate={acc * 2}"
            )
        if self.config.oom == "reduce" and half >= self.min_batch:
            raise _ReduceBatch(batch_size)
        self._sync_partial()
        self.save("oom", ["last.pt"])
        advice = (
            f"try data.batch_size={half} accumulate={acc * 2} (the same effective batch of "
            f"{batch_size * acc}), or oom=reduce to do that automatically"
            if half >= self.min_batch
            else "the batch cannot shrink further: try a smaller model or image_size"
        )
        raise OutOfMemory(f"out of memory at batch size {batch_size} on {self.device}: {advice}")

    def _reduce_batch(self, batch_size: int) -> None:
        """oom=reduce: halve the batch sizes and double accumulation, keep the position."""
        cfg, p = self.config, self.progress
        half = batch_size // 2
        done = p.batch * batch_size
        data = cfg.data.model_copy(update={"batch_size": max(cfg.data.batch_size // 2, 1)})
        freeze = cfg.freeze.model_copy(
            update={"batch_size": cfg.freeze.batch_size // 2 if cfg.freeze.batch_size else None}
        )
        note = (
            f"out of memory at batch size {batch_size}: batch halved to {half}, accumulate "
            f"{cfg.accumulate} → {cfg.accumulate * 2} (same effective batch)"
        )
        self.config = cfg.model_copy(
            update={
                "data": data,
                "freeze": freeze,
                "accumulate": cfg.accumulate * 2,
                "notes": [*cfg.notes, note],
            }
        )
        p.batch = done // half
        extra = done - p.batch * half
        self.bus.emit(LogMessage("warning", note))
        if extra:
            self.bus.emit(LogMessage("warning", f"{extra} sample(s) of this epoch repeat"))
        self.bus.emit(ConfigChanged(self.config.model_dump(mode="json"), note))

    def _optimizer_step(self) -> None:
        if self.scaler.is_enabled():
            before = self.scaler._scale.detach().clone() if self.scaler._scale is not None else None
            self.scaler.step(self.optimizer)
            self.scaler.update()
            if before is not None:  # the scale drops exactly when the step was skipped
                self.skipped_steps += (self.scaler._scale < before).to(torch.int64).sum()
        else:
            self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)

    def _sync_partial(self) -> None:
        """Turn the partial-epoch sums into floats before a checkpoint (all ranks call it).

        A multi-process checkpoint stores the sums over every rank (one reduction).
        """
        p = self.progress
        p.epoch_loss_sum = float(p.epoch_loss_sum)
        p.epoch_correct = float(p.epoch_correct)
        if self.dist.enabled:
            loss, correct, seen, units = self.dist.sum_floats(
                [p.epoch_loss_sum, p.epoch_correct, p.epoch_seen, p.epoch_units], self.device
            )
            self._global_partial = {
                "epoch_loss_sum": loss,
                "epoch_correct": correct,
                "epoch_seen": int(seen),
                "epoch_units": int(units),
            }

    def _emit_progress(
        self, epoch: int, step: int, steps: int, emit_sum: torch.Tensor, emit_n: int, dt: float
    ) -> None:
        loss = float(emit_sum) / max(emit_n, 1)  # the one host sync per progress event
        if not math.isfinite(loss):
            raise NonFiniteLoss(
                f"non-finite training loss at epoch {epoch + 1}, step {step} "
                "(lower optim.lr, or try precision=fp32)"
            )
        p = self.progress
        elapsed = self.train_seconds + dt
        self.bus.emit(
            StepProgress(
                epoch=epoch + 1,
                epochs=self.config.epochs,
                step=step,
                steps=steps,
                global_step=p.global_step,
                loss=loss,
                lr=self.optimizer.param_groups[0]["lr"],
                samples_per_second=p.samples / elapsed if elapsed > 0 else 0.0,
                elapsed=elapsed,
                phase="train",
            )
        )

    def _control_flags(self, *, take_checkpoint: bool = True, wait: float = 0.0) -> ControlFlags:
        """Rank 0 reads `Control` (waiting up to `wait` s while paused) and every rank gets it.

        On the other ranks a stop is copied into their own `Control`, so the run's status and
        exit code match rank 0's.
        """
        c = self.control
        flags = [0, 0, 0, 0, 0]
        if self.dist.is_main:
            if wait and c.paused:
                c.wait_while_paused(wait)
            flags = [
                int(c.paused),
                int(take_checkpoint and c.take_checkpoint_request()),
                _STOP_CODES[c.stop_mode],
                int(c.stop_status == "interrupted"),
                c.exit_signal or 0,
            ]
        paused, checkpoint, stop, interrupted, signal = self.dist.broadcast_flags(
            flags, self.device
        )
        mode = _STOP_MODES[stop]
        if not self.dist.is_main and mode is not StopMode.NONE:
            c.request_stop(
                mode, status="interrupted" if interrupted else "stopped", signal=signal or None
            )
        return ControlFlags(bool(paused), bool(checkpoint), mode)

    def _poll_control(self, epoch: int, step: int) -> None:
        flags = self._control_flags()
        if flags.paused:
            paused_at = time.monotonic()
            self.bus.emit(Paused(epoch + 1, step))
            while flags.paused:  # rank 0 re-broadcasts at most every 0.1 s while paused
                flags = self._control_flags(wait=0.1)
                if flags.checkpoint:
                    self._checkpoint_now("request")
            self.paused_total += time.monotonic() - paused_at
            self.bus.emit(Resumed(epoch + 1, step))
            flags = self._control_flags()
        if flags.checkpoint:
            self._checkpoint_now("request")
        if flags.stop is StopMode.STEP:
            self._checkpoint_now("signal" if self.control.exit_signal else "stop")
            raise _StopNow

    def _clock(self) -> float:
        """Monotonic seconds that stand still while the run is paused."""
        return time.monotonic() - self.paused_total

    def _checkpoint_now(self, reason: str) -> None:
        self._sync_partial()
        self.save(reason, ["last.pt"])

    def _validate(self, epoch: int) -> dict[str, float]:
        """Validation on the bare module; with sharded validation the sums cover all ranks."""
        total, count = validation_pass(
            self.model, self.data.val, self.criterion, self.evaluator, self.device, self.precision
        )
        if self.shard_val:
            total, count = self.dist.sum_floats([total, count], self.device)
        return {"val_loss": total / max(count, 1), **self.evaluator.compute()}

    def _update_best(self, metrics: dict[str, float], epoch: int) -> bool:
        value = metrics.get(self.monitor)
        if value is None or not math.isfinite(value):
            return False
        p = self.progress
        better = (
            p.best_value is None
            or (self.mode == "max" and value > p.best_value)
            or (self.mode == "min" and value < p.best_value)
        )
        if better:
            p.best_value, p.best_epoch = value, epoch + 1
        return better

    def _summary(self, status: str, error: str | None) -> dict[str, Any]:
        p = self.progress
        wall = time.monotonic() - self.t_start
        final = p.history[-1] if p.history else {}
        summary: dict[str, Any] = {
            "status": status,
            "epochs_completed": len(p.history),
            "best": {"metric": self.monitor, "value": p.best_value, "epoch": p.best_epoch},
            "final": final,
            "wall_seconds": round(wall, 3),
            "train_seconds": round(self.train_seconds, 3),
            "samples_per_second": round(p.samples / self.train_seconds, 1)
            if self.train_seconds > 0
            else 0.0,
            "global_step": p.global_step,
            "precision": self.precision,
            "skipped_steps": int(self.skipped_steps),
            "nonfinite_skipped": self.nonfinite_skipped,
        }
        if self.config.notes:
            summary["notes"] = list(self.config.notes)
        if error:
            summary["error"] = error
        return summary


def _describe_failure(exc: BaseException) -> str:
    if isinstance(exc, OutOfMemory):
        return str(exc)
    if _is_oom(exc):
        return f"out of memory: {str(exc).strip().splitlines()[0]} (try a smaller data.batch_size)"
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
