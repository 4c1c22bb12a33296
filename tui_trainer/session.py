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

import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
import yaml

from tui_trainer.config.schema import RunConfig
from tui_trainer.engine.atomic import describe_os_error
from tui_trainer.engine.checkpoint import load_checkpoint
from tui_trainer.engine.control import Control, StopMode
from tui_trainer.engine.data import build_data
from tui_trainer.engine.device import resolve_runtime, seed_everything
from tui_trainer.engine.distributed import SINGLE, DistContext
from tui_trainer.engine.events import EventBus, LogMessage, RunFinished, RunStarted, Sink
from tui_trainer.engine.models import build_model, count_params, has_batchnorm
from tui_trainer.engine.resume_rules import check_resumable
from tui_trainer.engine.trainer import Trainer
from tui_trainer.errors import UserError
from tui_trainer.rundir import RunDirLock, create_run_dir
from tui_trainer.sinks.files import RunDirWriter, config_changes, write_config


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


def resume_target(resume: str | Path) -> Path | None:
    """The run directory a resume continues in: RUN_DIR, or the one holding checkpoints/FILE.

    None when the checkpoint lies outside a run directory (the resume starts a new one).
    """
    path = Path(resume)
    run_dir = path if path.is_dir() else path.resolve().parent.parent
    return run_dir if (run_dir / "config.yaml").is_file() else None


def _value_at(config: dict[str, Any] | None, key: tuple[str, ...]) -> Any:
    node: Any = config
    for part in key:
        node = node.get(part) if isinstance(node, dict) else None
    return node


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
    config, device, notes = resolve_runtime(config)
    info: list[str] = []
    if dist.enabled:
        device = dist.device(device)
        config, info = distributed_notes(config, dist)
        dist = dist.start(config.backend, device, config.dist_timeout)
    try:
        return _execute(config, preset, (notes, info), device, dist, sinks, control, out, resume)
    finally:
        dist.stop()


def distributed_notes(config: RunConfig, dist: DistContext) -> tuple[RunConfig, list[str]]:
    """Record the process count and effective batch in the config's notes (and config.yaml)."""
    bs, acc, world = config.data.batch_size, config.accumulate, dist.world_size
    notes = [
        f"{world} processes: data.batch_size {bs} per process × {world} × accumulate {acc} "
        f"= effective batch {bs * world * acc}"
    ]
    if config.oom == "reduce":
        notes.append(
            f"oom=reduce works in single-process runs only: with {world} processes an "
            "out-of-memory error stops the run"
        )
    update = {"notes": [*config.notes, *notes]}
    return config.model_copy(update=update, deep=True), notes


def _execute(
    config: RunConfig,
    preset: str,
    all_notes: tuple[list[str], list[str]],
    device: torch.device,
    dist: DistContext,
    sinks: list[Sink],
    control: Control,
    out: str | Path | None,
    resume: str | Path | None,
) -> RunFinished:
    notes, info = all_notes  # warnings (fallbacks), information (process count)
    seed_everything(config.seed, config.deterministic)
    name = config.model.name
    torchvision_model = name != "small_cnn" and ":" not in name
    data = build_data(config, device, 3 if torchvision_model else None)
    num_classes = config.model.num_classes or data.num_classes
    if num_classes != data.num_classes:
        raise UserError(
            f"model.num_classes: {num_classes}, but data {config.data.name} has "
            f"{data.num_classes} classes"
        )
    built = build_model(config.model, num_classes, data.in_channels, data.image_size)
    _check_batch_sizes(config, has_batchnorm(built.model), data.train_samples)
    target = resume_target(resume) if resume else None
    # Lock a resumed run directory before reading its checkpoint: a live writer could still
    # replace it. Only rank 0 owns the directory; every rank gets its verdict.
    lock: RunDirLock | None = None
    if target is not None:
        _, lock = _claim(dist, lambda: (target, RunDirLock.acquire(target)))
    try:
        state = load_checkpoint(resume) if resume else None
        if state is not None and state.get("class_names") not in (None, data.class_names):
            raise UserError(
                f"--resume: checkpoint classes {state['class_names']} differ from the data's "
                f"{data.class_names}"
            )
        if state is not None:
            check_resumable(state, config, str(target or state["path"]))
        trainer = Trainer(
            config,
            data=data,
            built=built,
            device=device,
            bus=EventBus(),
            control=control,
            run_dir=target or Path(out or config.out),
            resume=state,
            dist=dist,
        )
        run_dir = target
        if run_dir is None:  # input is valid: create the run directory, atomically, and lock it
            run_dir, lock = _claim(dist, lambda: _create(out or config.out, preset))
        trainer.run_dir, trainer.ckpt_dir = run_dir, run_dir / "checkpoints"
        if not dist.is_main:
            return _follow(trainer)
        writer = _open_writer(run_dir, preset, config, lock, control, fresh=target is None)
    except BaseException:
        if lock is not None:
            lock.release()
        raise
    try:
        return _train(trainer, writer, state, config, preset, (notes, info, built.notes), sinks)
    finally:
        writer.close()


def _claim(dist: DistContext, take: Callable[[], tuple[Path, RunDirLock]]) -> Any:
    """Rank 0 runs `take` (create and/or lock a run directory); every rank gets its outcome.

    Returns (run_dir, lock) on rank 0 and (run_dir, None) elsewhere; a refusal on rank 0 is a
    UserError on every rank (all exit 2).
    """
    lock: RunDirLock | None = None
    outcome: tuple[str, str]
    error: UserError | None = None
    if dist.is_main:
        try:
            run_dir, lock = take()
            outcome = ("ok", str(run_dir))
        except UserError as exc:
            error, outcome = exc, ("error", str(exc))
    else:
        outcome = ("", "")
    outcome = dist.broadcast_object(outcome)
    if error is not None:
        raise error
    if outcome[0] == "error":
        raise UserError(outcome[1])
    return Path(outcome[1]), lock


def _create(out: str | Path, preset: str) -> tuple[Path, RunDirLock]:
    run_dir = create_run_dir(out, preset)
    try:
        return run_dir, RunDirLock.acquire(run_dir)
    except BaseException:
        shutil.rmtree(run_dir, ignore_errors=True)
        raise


def _open_writer(
    run_dir: Path,
    preset: str,
    config: RunConfig,
    lock: RunDirLock | None,
    control: Control,
    *,
    fresh: bool,
) -> RunDirWriter:
    """Prepare the run directory's files and the writer that keeps them current.

    A new directory that cannot take its first files (a full disk) is removed again: UserError.
    A resumed one keeps its config.yaml until the resume proves itself (see RunDirWriter).
    """
    resolved = config.model_dump(mode="json")
    pending: dict[Any, Any] = {}
    if not fresh:
        previous = _saved_config(run_dir)
        pending = config_changes(previous, resolved) if previous is not None else {}
    try:
        ckpts = run_dir / "checkpoints"
        ckpts.mkdir(exist_ok=True)
        for folder in (run_dir, ckpts):  # temps of a writer killed mid-save (we hold the lock)
            for stale in folder.glob(".*.tmp"):
                stale.unlink(missing_ok=True)
        if fresh or not pending:
            write_config(run_dir, resolved, preset)
        writer = RunDirWriter(
            run_dir,
            preset,
            config=resolved,
            lock=lock,
            on_recreated=control.request_checkpoint,
            on_lost=lambda _why: control.request_stop(StopMode.STEP, status="failed"),
            pending=pending,
        )
    except OSError as exc:
        if fresh:
            shutil.rmtree(run_dir, ignore_errors=True)
        raise UserError(
            f"--out: cannot write the run directory {run_dir}: {describe_os_error(exc)}"
        ) from None
    return writer


def _saved_config(run_dir: Path) -> dict[str, Any] | None:
    try:
        data = yaml.safe_load((run_dir / "config.yaml").read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError, UnicodeDecodeError):
        return None
    return data if isinstance(data, dict) else None


def _train(
    trainer: Trainer,
    writer: RunDirWriter,
    state: dict[str, Any] | None,
    config: RunConfig,
    preset: str,
    all_notes: tuple[list[str], list[str], list[str]],
    sinks: list[Sink],
) -> RunFinished:
    notes, info, model_notes = all_notes
    run_dir, data, device, dist = trainer.run_dir, trainer.data, trainer.device, trainer.dist
    if state is not None:
        writer.load_history(state["progress"]["history"])
    bus = EventBus([writer, *sinks])
    writer.warn_with(lambda message: bus.emit(LogMessage("warning", message)))
    trainer.bus = bus
    trainable, total = count_params(trainer.model)
    bus.emit(
        RunStarted(
            run_dir=str(run_dir),
            preset=preset,
            config=config.model_dump(mode="json"),
            device=str(device),
            precision=config.precision,
            epochs=config.epochs,
            start_epoch=trainer.progress.epoch,
            steps_per_epoch=trainer.steps_per_epoch(config.data.batch_size),
            trainable_params=trainable,
            total_params=total,
            task=config.task,
            class_names=data.class_names,
            warnings=notes,
            world_size=dist.world_size,
        )
    )
    if writer.pending:
        changes = {".".join(k): [v, _value_at(writer.config, k)] for k, v in writer.pending.items()}
        writer.record({"event": "resume", "from": state and state["path"], "changes": changes})
        shown = ", ".join(f"{k} {old} → {new}" for k, (old, new) in sorted(changes.items()))
        bus.emit(
            LogMessage(
                "info",
                f"resumed with {shown}; config.yaml takes these once this run ends without failing",
            )
        )
    for note in [*notes, *info, *model_notes, *trainer.setup_notes]:
        bus.emit(LogMessage("warning" if note in notes else "info", note))
    if trainer.frozen:
        bus.emit(
            LogMessage(
                "info",
                f"backbone frozen: {trainable:,}/{total:,} parameters trainable"
                + (f" for {config.freeze.epochs} epoch(s)" if config.freeze.epochs else ""),
            )
        )
    t0 = time.monotonic()
    try:
        finished = trainer.run()
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
    summary = {
        **finished.summary,
        "run_dir": str(run_dir),
        "replay_command": f"tui-trainer replay {run_dir}",
    }
    if trainer.resumed_from:
        summary["resumed_from"] = trainer.resumed_from
    if bus.sink_errors:
        summary["sink_errors"] = bus.sink_errors[:5]
    error = finished.error
    if writer.lost:  # the run directory vanished and could not be recreated
        error = summary["error"] = writer.lost
    final = RunFinished(
        "failed" if writer.lost else finished.status,
        summary,
        finished.report,
        error,
        finished.traceback,
    )
    bus.emit(final)
    return final


def _follow(trainer: Trainer) -> RunFinished:
    """A rank other than 0: train in step with rank 0, write nothing, emit to no sink."""
    finished = trainer.run()
    summary = {**finished.summary, "run_dir": str(trainer.run_dir), "rank": trainer.dist.rank}
    return RunFinished(
        finished.status, summary, finished.report, finished.error, finished.traceback
    )
