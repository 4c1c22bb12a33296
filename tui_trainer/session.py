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
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from tui_trainer.alerting import attach as attach_alerts
from tui_trainer.atomic import PRIVATE_DIR, describe_os_error
from tui_trainer.config.code_specs import metric_mode
from tui_trainer.config.outroot import check_out_root, out_root_problem
from tui_trainer.config.rules import config_warnings
from tui_trainer.config.schema import RunConfig
from tui_trainer.config.tasks import model_kind
from tui_trainer.engine.checkpoint import load_checkpoint
from tui_trainer.engine.data import build_data
from tui_trainer.engine.data.bundle import DataBundle
from tui_trainer.engine.device import resolve_runtime, seed_everything
from tui_trainer.engine.distributed import SINGLE, DistContext
from tui_trainer.engine.loop import Trainer
from tui_trainer.engine.model_parts import BuiltModel, count_params, has_batchnorm
from tui_trainer.engine.models import build_model
from tui_trainer.engine.resume_rules import check_resumable
from tui_trainer.engine.watchdog import SerialBus
from tui_trainer.errors import UserError
from tui_trainer.run_checks import check_batch_sizes, distributed_notes
from tui_trainer.run_claim import choose_target, claim, create_exact, create_new, discard
from tui_trainer.rundir import RunDirLock
from tui_trainer.runlog import Damaged, read_config
from tui_trainer.runlog.control import Control, StopMode
from tui_trainer.runlog.events import EventBus, LogMessage, LRPlan, RunFinished, RunStarted, Sink
from tui_trainer.runlog.layout import RESTART
from tui_trainer.sinks.files import RunDirWriter, config_changes, write_config
from tui_trainer.sinks.tensorboard import TensorBoardSink, require_tensorboard


def check_resume(resume: str | Path) -> None:
    """UserError unless `resume` (a run directory or checkpoint) holds a loadable checkpoint."""
    load_checkpoint(resume)


def resume_target(resume: str | Path) -> Path | None:
    """The run directory a resume continues in: RUN_DIR, or the one holding checkpoints/FILE.

    None when the checkpoint lies outside a run directory (the resume starts a new one).
    """
    path = Path(resume)
    run_dir = path if path.is_dir() else path.resolve().parent.parent
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
    run_dir: str | Path | None = None,
    restart_dir: Callable[[], Path | None] | None = None,
    attempt: int = 0,
    summary: dict[str, Any] | None = None,
) -> RunFinished:
    """Run training for `config` and return the final event (also delivered to the sinks).

    Raises UserError (nothing written) for bad input; training failures come back as a
    RunFinished with status "failed". With a multi-process `dist` this starts and ends the
    process group around the run. `run_dir` (`run --run-dir`): exactly that directory, a new
    run or the one there continued (`tui_trainer.run_target`; rank 0 decides).
    `restart_dir`: this is attempt `attempt` > 0 of a torchrun job (`tui_trainer.restarts`):
    rank 0 calls it for the run directory of the first attempt, continued like `run_dir` (a
    new run when there is none, or it cannot be continued). `summary`: keys that join
    summary.json, filled in while the run goes (the headless runner's signal handlers).
    """
    if config.log.tensorboard:
        require_tensorboard()  # the optional extra: a one-line error before anything is written
    config, device, notes, info = _runtime(config, dist)
    if dist.enabled:
        dist = dist.start(config.backend, device, config.dist_timeout)
    finished: RunFinished | None = None
    try:
        exact: Path | None = None
        again = False
        if run_dir is not None or restart_dir is not None:
            target = choose_target(
                dist, None if run_dir is None else Path(run_dir), restart_dir, config
            )
            if target is not None and target.resume and target.config is not None:
                config, device, notes, info = _runtime(target.config, dist)
                resume = target.path
            elif target is not None and target.kind in ("new", "again"):
                exact, again = target.path, target.kind == "again"
            info = [*info, *([target.note] if target is not None else [])]
        run = prepare(
            config,
            preset,
            control=control,
            out=out,
            resume=resume,
            dist=dist,
            device=device,
            notes=(notes, info),
            exact=exact,
        )
        run.attempt, run.summary, run.again = attempt, summary, again
        finished = _execute(run, sinks)
        return finished
    finally:  # every rank that ended cleanly meets the others before the group goes
        dist.stop(sync=finished is not None and _ended_together(finished))


def _runtime(
    config: RunConfig, dist: DistContext
) -> tuple[RunConfig, torch.device, list[str], list[str]]:
    """The config with device and precision resolved (and, for several processes, the
    process count noted), the device this rank trains on, warnings and facts for the log."""
    config, device, notes = resolve_runtime(config)
    notes = [*notes, *config_warnings(config)]
    info: list[str] = []
    if dist.enabled:
        device = dist.device(device)
        config, info = distributed_notes(config, dist)
    if len(set(config.notes)) < len(config.notes):  # a run continued again and again
        config = config.model_copy(update={"notes": list(dict.fromkeys(config.notes))})
    return config, device, notes, info


def _ended_together(finished: RunFinished) -> bool:
    """Whether every rank reached this end (rank 0's unsaved checkpoint fails it alone)."""
    return finished.status != "failed" or "checkpoint_missing" in finished.summary


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
    run_dir: Path | None  # the resumed run's directory; None: `_execute` creates a new one
    state: dict[str, Any] | None  # the checkpoint resumed from
    warnings: list[str]  # fallbacks made while resolving (fp16 → fp32 on CPU)
    info: list[str]  # facts worth a log line (process count)
    out: str | Path  # where a new run directory goes
    lock: RunDirLock | None  # rank 0's lock on the resumed directory (see `tui_trainer.rundir`)
    exact: Path | None = None  # `--run-dir`: the new run's directory itself, not one under `out`
    attempt: int = 0  # torchrun's restart count (`tui_trainer.restarts`): 0 the first attempt
    summary: dict[str, Any] | None = None  # keys joining summary.json (see `execute`)
    again: bool = False  # `exact` holds a run that ended before its first checkpoint (set aside)


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
    exact: Path | None = None,
) -> PreparedRun:
    """Turn a resolved config into a ready run: data, model, checkpoint, run dir path, trainer.

    Raises UserError for bad input; creates nothing on disk. A resumed run directory is locked
    (rank 0) before its checkpoint is read, so a live writer is refused (`RunDirBusy`) and a
    checkpoint cannot change under us; the caller releases `lock`. `device` and `notes` come
    from `resolve_runtime` (and the process count); `execute` passes them. `exact`: a new run
    goes in exactly that directory (`run --run-dir`), created when the run starts.
    """
    if device is None:
        config, device, warnings = resolve_runtime(config)
        notes = (warnings, [])
    seed_everything(config.seed, config.deterministic)
    rgb = model_kind(config.model.name) in ("torchvision", "segmentation", "detection")
    data = build_data(config, device, 3 if rgb else None)
    if data.split:  # which split made train/val and how many: said first, kept in config.yaml
        notes = (notes[0], [data.split, *notes[1]])
        if data.split not in config.notes:
            config = config.model_copy(update={"notes": [*config.notes, data.split]})
    num_classes = config.model.num_classes or data.num_classes
    if num_classes != data.num_classes:
        raise UserError(
            f"{num_classes}, but data {config.data.name} has {data.num_classes} classes",
            key="model.num_classes",
        )
    built = build_model(
        config.model, num_classes, data.in_channels, data.image_size, task=config.task
    )
    check_batch_sizes(config, has_batchnorm(built.model), data.train_samples)
    config = metric_mode(config)  # a user metric's higher_is_better: recorded checkpoint.mode
    target = resume_target(resume) if resume else None
    if dist.is_main and exact is not None:
        problem = out_root_problem(exact)
        if problem:
            raise UserError(problem, key="--run-dir")
    elif dist.is_main:  # a root that is a file, read-only or immutable: exit 2, nothing written
        check_out_root(target or out or config.out, "--resume" if target else "--out")
    lock: RunDirLock | None = None
    if target is not None:
        _, lock = claim(dist, lambda: (target, RunDirLock.acquire(target)))
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
            control=control,
            run_dir=target or Path(out or config.out),  # a new run's directory: see _execute
            resume=state,
            dist=dist,
        )
    except BaseException:
        if lock is not None:
            lock.release()
        raise
    return PreparedRun(
        config,
        preset,
        device,
        dist,
        data,
        built,
        trainer,
        target,
        state,
        *notes,
        out=out or config.out,
        lock=lock,
        exact=exact,
    )


def _open_writer(
    run: PreparedRun, run_dir: Path, lock: RunDirLock | None, keep_folder: bool = False
) -> RunDirWriter:
    """Prepare the run directory's first files and the writer that keeps them current.

    A new directory that cannot take its first files (a full disk) is removed again (emptied,
    with `keep_folder`: a `--run-dir` folder that existed before): UserError.
    A resumed one keeps its config.yaml until the resume proves itself (see RunDirWriter).
    """
    fresh = run.run_dir is None
    resolved = run.config.model_dump(mode="json")
    previous = None if fresh else _saved_config(run_dir)
    pending = config_changes(previous, resolved) if previous is not None else {}
    control = run.trainer.control
    try:
        ckpts = run_dir / "checkpoints"
        ckpts.mkdir(mode=PRIVATE_DIR, exist_ok=True)
        for folder in (run_dir, ckpts):  # temps of a writer killed mid-save (we hold the lock)
            for stale in folder.glob(".*.tmp"):
                stale.unlink(missing_ok=True)
        if not pending:
            write_config(run_dir, resolved, run.preset)
        writer = RunDirWriter(
            run_dir,
            run.preset,
            config=resolved,
            lock=lock,
            on_recreated=control.request_checkpoint,
            on_lost=lambda _why: control.request_stop(StopMode.STEP, status="failed"),
            pending=pending,
        )
    except OSError as exc:
        if fresh:
            discard(run_dir, keep_folder)
        option = "--run-dir" if run.exact is not None else "--out"
        raise UserError(
            f"{option}: cannot write the run directory {run_dir}: {describe_os_error(exc)}"
        ) from None
    return writer


def _saved_config(run_dir: Path) -> dict[str, Any] | None:
    """The run's config.yaml as the run-record reader reads it (None when it cannot be used)."""
    try:
        return read_config(run_dir)
    except Damaged:
        return None


def _value_at(config: dict[str, Any] | None, key: tuple[str, ...]) -> Any:
    node: Any = config
    for part in key:
        node = node.get(part) if isinstance(node, dict) else None
    return node


def _execute(run: PreparedRun, sinks: list[Sink]) -> RunFinished:
    lock = run.lock
    try:
        run_dir = run.run_dir
        made: list[bool] = []
        if run_dir is None and run.exact is not None:  # `--run-dir`: exactly there
            exact = run.exact
            run_dir, lock = claim(run.dist, lambda: create_exact(exact, made, run.again))
        elif run_dir is None:  # input is valid: create the run directory, atomically, and lock it
            run_dir, lock = claim(run.dist, lambda: create_new(run.out, run.preset))
        run.trainer.run_dir = run_dir
        if not run.dist.is_main:  # train in step with rank 0, write nothing, emit to no sink
            return run.trainer.run(EventBus(), {"run_dir": str(run_dir), "rank": run.dist.rank})
        writer = _open_writer(run, run_dir, lock, keep_folder=made == [False])
    except BaseException:
        if lock is not None:
            lock.release()
        raise
    try:
        return _train(run, run_dir, writer, sinks)
    finally:
        for sink in sinks:  # e.g. the control socket: its pointer file goes before the lock
            settle = getattr(sink, "settle", None)
            if callable(settle):
                settle()
        writer.close()  # releases the lock


def _train(run: PreparedRun, run_dir: Path, writer: RunDirWriter, sinks: list[Sink]) -> RunFinished:
    """Rank 0: the run directory is ours; announce the run, train, leave a summary."""
    trainer, config, preset, dist = run.trainer, run.config, run.preset, run.dist
    if run.state is not None:
        writer.load_history(run.state["progress"]["history"])
    board: list[Sink] = [TensorBoardSink(run_dir)] if config.log.tensorboard else []
    extra = run.summary if run.summary is not None else {}  # filled while the run goes
    extra.update(run_dir=str(run_dir), replay_command=f"tui-trainer replay {run_dir}")
    if run.attempt:
        extra["restarts"] = run.attempt
    bus = SerialBus([writer, *board, *sinks])  # the watchdog's thread emits too
    alerting = attach_alerts(
        config.alerts,
        bus=bus,
        control=trainer.control,
        device=run.device,
        run_dir=str(run_dir),
        preset=preset,
        summary=extra,
    )
    writer.warn_with(lambda message: bus.emit(LogMessage("warning", message)))
    writer.when_lost(lambda why: extra.update(error=why))  # joins the summary at the end
    trainable, total = count_params(trainer.model)
    bus.emit(
        RunStarted(
            run_dir=str(run_dir),
            preset=preset,
            config=config.model_dump(mode="json"),
            device=str(run.device),
            precision=config.precision,
            epochs=trainer.schedule.epochs,  # steering may have changed it
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
    for sink in sinks:  # a sink that could not start (the control socket) says why in the log
        if isinstance(problem := getattr(sink, "error", None), str):
            bus.emit(LogMessage("warning", problem))
    bus.emit(LRPlan(trainer.schedule.plan(), "start"))
    if writer.pending:
        changes = {".".join(k): [v, _value_at(writer.config, k)] for k, v in writer.pending.items()}
        origin = run.state["path"] if run.state else None
        writer.record({"event": "resume", "from": origin, "changes": changes})
        shown = ", ".join(f"{k} {old} → {new}" for k, (old, new) in sorted(changes.items()))
        bus.emit(
            LogMessage(
                "info",
                f"resumed with {shown}; config.yaml takes these once this run ends without failing",
            )
        )
    if run.attempt:  # torchrun started the workers again (a worker died): one record of it
        origin = run.state["path"] if run.state else None
        world = dist.world_size
        writer.record(
            {"event": RESTART, "attempt": run.attempt, "from": origin, "world_size": world}
        )
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
    finally:
        alerting.close()  # the watchdog's and the webhook's threads
