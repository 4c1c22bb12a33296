"""One training run from a resolved config: build, create the run directory, train, summarise.

Both front ends call `execute`: the headless runner on the main thread, the TUI from a thread
worker. Everything that can fail because of bad input (data root, weights, checkpoint, freeze
patterns, batch size vs BatchNorm) is checked before the run directory is created, so bad input
raises `UserError` with nothing written.

In a multi-process run (torchrun) every rank calls `execute` with its `DistContext`: every rank
makes the same input checks (so all of them exit 2 on bad input), and only rank 0 creates the
run directory and delivers events to sinks; the other ranks get no sinks.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from tui_trainer.config.outroot import check_out_root
from tui_trainer.config.rules import config_warnings
from tui_trainer.config.schema import RunConfig
from tui_trainer.config.tasks import effective_batch, model_kind
from tui_trainer.engine.checkpoint import load_checkpoint
from tui_trainer.engine.control import Control
from tui_trainer.engine.data import build_data
from tui_trainer.engine.data.bundle import DataBundle
from tui_trainer.engine.device import resolve_runtime, seed_everything
from tui_trainer.engine.distributed import SINGLE, DistContext
from tui_trainer.engine.events import EventBus, LogMessage, LRPlan, RunFinished, RunStarted, Sink
from tui_trainer.engine.loop import Trainer
from tui_trainer.engine.models import BuiltModel, build_model, count_params, has_batchnorm
from tui_trainer.errors import UserError
from tui_trainer.sinks.files import RunDirWriter, new_run_dir, write_config
from tui_trainer.sinks.tensorboard import TensorBoardSink, require_tensorboard


def _check_batch_sizes(config: RunConfig, batchnorm: bool, train_samples: int) -> None:
    sizes = {"data.batch_size": config.data.batch_size}
    if config.freeze.enabled and config.freeze.batch_size:
        sizes["freeze.batch_size"] = config.freeze.batch_size
    for key, size in sizes.items():
        if batchnorm and size < 2:
            raise UserError(
                f"{key}: must be at least 2 for {config.model.name}: its BatchNorm layers "
                "cannot train on batches of one sample"
            )
        if size > train_samples:
            raise UserError(
                f"{key}: {size} is larger than the {train_samples} training samples of "
                f"{config.data.name}"
            )


def check_resume(resume: str | Path) -> None:
    """UserError unless `resume` (a run directory or checkpoint) holds a loadable checkpoint."""
    load_checkpoint(resume)


def resume_dir(state: dict[str, Any]) -> Path | None:
    """The run directory a checkpoint belongs to (checkpoints/<file> inside it), if it has one."""
    path = Path(state["path"]).resolve()
    run_dir = path.parent.parent
    return run_dir if (run_dir / "config.yaml").is_file() else None


def execute(
    config: RunConfig,
    preset: str,
    *,
    sinks: list[Sink],
    control: Control,
    out: str | Path | None = None,
    resume: str | Path | None = None,
    dist: DistContext = SINGLE,
) -> RunFinished:
    """Run training for `config` and return the final event (also delivered to the sinks).

    Raises UserError (nothing written) for bad input; training failures come back as a
    RunFinished with status "failed". With a multi-process `dist` this starts and ends the
    process group around the run.
    """
    if config.log.tensorboard:
        require_tensorboard()  # the optional extra: a one-line error before anything is written
    config, device, notes = resolve_runtime(config)
    notes = [*notes, *config_warnings(config)]
    info: list[str] = []
    if dist.enabled:
        device = dist.device(device)
        config, info = distributed_notes(config, dist)
        dist = dist.start(config.backend, device, config.dist_timeout)
    try:
        run = prepare(
            config,
            preset,
            control=control,
            out=out,
            resume=resume,
            dist=dist,
            device=device,
            notes=(notes, info),
        )
        return _execute(run, sinks)
    finally:
        dist.stop()


def distributed_notes(config: RunConfig, dist: DistContext) -> tuple[RunConfig, list[str]]:
    """Record the process count and effective batch in the config's notes (and config.yaml)."""
    bs, acc, world = config.data.batch_size, config.accumulate, dist.world_size
    notes = [
        f"{world} processes: data.batch_size {bs} per process × {world} × accumulate {acc} "
        f"= effective batch {effective_batch(bs, acc, world)}"
    ]
    if config.oom == "reduce":
        notes.append(
            f"oom=reduce works in single-process runs only: with {world} processes an "
            "out-of-memory error stops the run"
        )
    update = {"notes": [*config.notes, *notes]}
    return config.model_copy(update=update, deep=True), notes


@dataclass
class PreparedRun:
    """Everything a run needs, checked: nothing is written yet (see `prepare`)."""

    config: RunConfig
    preset: str
    device: torch.device
    dist: DistContext
    data: DataBundle
    built: BuiltModel
    trainer: Trainer
    run_dir: Path
    state: dict[str, Any] | None  # the checkpoint resumed from
    warnings: list[str]  # fallbacks made while resolving (fp16 → fp32 on CPU)
    info: list[str]  # facts worth a log line (process count)


def prepare(
    config: RunConfig,
    preset: str,
    *,
    control: Control,
    out: str | Path | None = None,
    resume: str | Path | None = None,
    dist: DistContext = SINGLE,
    device: torch.device | None = None,
    notes: tuple[list[str], list[str]] = ([], []),
) -> PreparedRun:
    """Turn a resolved config into a ready run: data, model, checkpoint, run dir path, trainer.

    Raises UserError for bad input; creates nothing on disk. `device` and `notes` come from
    `resolve_runtime` (and the process count); `execute` passes them.
    """
    if device is None:
        config, device, warnings = resolve_runtime(config)
        notes = (warnings, [])
    seed_everything(config.seed, config.deterministic)
    rgb = model_kind(config.model.name) in ("torchvision", "segmentation")
    data = build_data(config, device, 3 if rgb else None)
    num_classes = config.model.num_classes or data.num_classes
    if num_classes != data.num_classes:
        raise UserError(
            f"{num_classes}, but data {config.data.name} has {data.num_classes} classes",
            key="model.num_classes",
        )
    built = build_model(config.model, num_classes, data.in_channels, data.image_size)
    _check_batch_sizes(config, has_batchnorm(built.model), data.train_samples)
    state = load_checkpoint(resume) if resume else None
    if state is not None and state.get("class_names") not in (None, data.class_names):
        raise UserError(
            f"--resume: checkpoint classes {state['class_names']} differ from the data's "
            f"{data.class_names}"
        )
    existing = resume_dir(state) if state is not None else None
    if dist.is_main:  # a root that is a file, read-only or immutable: exit 2, nothing written
        check_out_root(existing or out or config.out, "--resume" if existing else "--out")
    run_dir = existing or new_run_dir(out or config.out, preset)
    run_dir = Path(dist.broadcast_object(str(run_dir)))  # rank 0's choice (timestamps differ)
    trainer = Trainer(
        config,
        data=data,
        built=built,
        device=device,
        control=control,
        run_dir=run_dir,
        resume=state,
        dist=dist,
    )
    return PreparedRun(config, preset, device, dist, data, built, trainer, run_dir, state, *notes)


def _execute(run: PreparedRun, sinks: list[Sink]) -> RunFinished:
    trainer, run_dir, dist = run.trainer, run.run_dir, run.dist
    if not dist.is_main:  # train in step with rank 0, write nothing, emit to no sink
        return trainer.run(EventBus(), {"run_dir": str(run_dir), "rank": dist.rank})

    # Input is valid: from here on the run directory exists and is kept current.
    config, preset = run.config, run.preset
    (run_dir / "checkpoints").mkdir(parents=True, exist_ok=True)
    for stale in (run_dir / "checkpoints").glob(".*.tmp"):  # left by a writer killed mid-save
        stale.unlink(missing_ok=True)
    write_config(run_dir, config.model_dump(mode="json"), preset)
    writer = RunDirWriter(run_dir, preset)
    if run.state is not None:
        writer.load_history(run.state["progress"]["history"])
    extra: list[Sink] = [TensorBoardSink(run_dir)] if config.log.tensorboard else []
    bus = EventBus([writer, *extra, *sinks])
    trainable, total = count_params(trainer.model)
    bus.emit(
        RunStarted(
            run_dir=str(run_dir),
            preset=preset,
            config=config.model_dump(mode="json"),
            device=str(run.device),
            precision=config.precision,
            epochs=config.epochs,
            start_epoch=trainer.progress.epoch,
            steps_per_epoch=trainer.steps_per_epoch(config.data.batch_size),
            trainable_params=trainable,
            total_params=total,
            task=config.task,
            class_names=run.data.class_names,
            warnings=run.warnings,
            world_size=dist.world_size,
        )
    )
    bus.emit(LRPlan(trainer.schedule.plan(), "start"))
    for note in [*run.warnings, *run.info, *run.built.notes, *trainer.setup_notes]:
        bus.emit(LogMessage("warning" if note in run.warnings else "info", note))
    for note in run.data.notes:  # skipped links, a cache that would not fit, ...
        bus.emit(LogMessage("warning", note))
    if run.data.bad_images is not None:  # on_bad_image=skip: each skip reported with a count
        run.data.bad_images.report = lambda message: bus.emit(LogMessage("warning", message))
    if trainer.frozen:
        bus.emit(
            LogMessage(
                "info",
                f"backbone frozen: {trainable:,}/{total:,} parameters trainable"
                + (f" for {config.freeze.epochs} epoch(s)" if config.freeze.epochs else ""),
            )
        )
    t0 = time.monotonic()
    extra = {"run_dir": str(run_dir), "replay_command": f"tui-trainer replay {run_dir}"}
    try:
        return trainer.run(bus, extra)
    except BaseException:  # a second Ctrl-C: still leave a summary behind
        writer.write_summary(
            {
                "status": "interrupted",
                "epochs_completed": len(trainer.progress.history),
                "wall_seconds": round(time.monotonic() - t0, 3),
                "run_dir": str(run_dir),
            }
        )
        raise
