"""`tui-trainer queue ACTION ...`: add runs to the queue, list them, hold, release, remove,
retry, move, read their output, start and stop the scheduler (docs/queues-sweeps.md)."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tui_trainer.commands.parsing import OVERRIDES_HELP, split_overrides
from tui_trainer.errors import UserError

if TYPE_CHECKING:
    from tui_trainer.queue.paths import QueuePaths
    from tui_trainer.queue.store import Job, QueueStore

ACTIONS = ("add", "ls", "hold", "release", "rm", "retry", "move", "logs", "start", "stop")

_OPTIONS: dict[str, set[str]] = {
    "add": {"gpus", "per_gpu", "priority", "out"},
    "ls": {"json"},
    "move": {"to", "before"},
    "logs": {"follow"},
    "start": {"cpu_slots"},
    "stop": {"jobs"},
}


def configure(p: argparse.ArgumentParser) -> None:
    """`queue ACTION [WORDS] [options]` (one parser: options are checked per action)."""
    p.add_argument("action", choices=ACTIONS, help=" | ".join(ACTIONS))
    p.add_argument(
        "words",
        nargs="*",
        help=f"add: PRESET and {OVERRIDES_HELP}; hold, release, rm, retry: JOB ids; "
        "move, logs: one JOB id",
    )
    p.add_argument(
        "--gpus", type=int, help="add: GPUs the run needs (default: 1 with GPUs, else 0)"
    )
    p.add_argument(
        "--per-gpu",
        type=int,
        help="add: share a GPU with up to N jobs where their measured memory fits (default 1)",
    )
    p.add_argument("--priority", type=int, help="add: higher starts first (default 0)")
    p.add_argument("--out", help="add: root folder for the run directory (default: the config's)")
    p.add_argument("--json", action="store_true", help="ls: one JSON object per job, as a list")
    p.add_argument("--to", type=int, help="move: the place among waiting jobs (0: next)")
    p.add_argument("--before", type=int, help="move: just before this job")
    p.add_argument("-f", "--follow", action="store_true", help="logs: follow until the job ends")
    p.add_argument("--cpu-slots", type=int, help="start: CPU jobs run at once (default 1)")
    p.add_argument("--jobs", action="store_true", help="stop: stop the running jobs too")


def queue(args: argparse.Namespace) -> int:
    """Run one `queue` action."""
    for name in ("gpus", "per_gpu", "priority", "out", "to", "before", "cpu_slots"):
        if getattr(args, name) is not None and name not in _OPTIONS.get(args.action, set()):
            raise UserError(f"queue {args.action}: --{name.replace('_', '-')} does not apply")
    for name in ("json", "follow", "jobs"):
        if getattr(args, name) and name not in _OPTIONS.get(args.action, set()):
            raise UserError(f"queue {args.action}: --{name} does not apply")
    from tui_trainer.queue.store import QueueStore, default_path

    if args.action == "ls" and not default_path().exists():  # a look creates nothing
        print("[]" if args.json else "The queue is empty: tui-trainer queue add PRESET [overrides]")
        return 0
    with QueueStore() as store:
        handler = {
            "add": _add,
            "ls": _ls,
            "hold": _each,
            "release": _each,
            "rm": _each,
            "retry": _each,
            "move": _move,
            "logs": _logs,
            "start": _start,
            "stop": _stop,
        }[args.action]
        return handler(store, args)


def _ids(words: list[str], action: str, *, one: bool = False) -> list[int]:
    if not words:
        raise UserError(f"queue {action}: which job? (a job id, see: tui-trainer queue ls)")
    if one and len(words) > 1:
        raise UserError(f"queue {action}: one job id, got {len(words)}")
    ids = []
    for word in words:
        try:
            ids.append(int(word))
        except ValueError:
            raise UserError(f"queue {action}: '{word}' is not a job id (a number)") from None
    return ids


def _wake(store: QueueStore) -> None:
    from tui_trainer.queue.paths import QueuePaths, wake

    wake(QueuePaths(store.path))


def _gpu_count() -> int:
    """GPUs NVML sees on this machine (0 without a driver)."""
    from tui_trainer.telemetry.gpu import NvmlReader

    snapshot = NvmlReader().read()
    return len(snapshot.gpus) if snapshot.available else 0


def gpus_wanted(asked: int | None, device: str, command: str = "queue add") -> int:
    """The GPUs a job gets: `--gpus` (checked against the machine), else 1 where there are
    GPUs and the config does not ask for the CPU, else 0."""
    if asked is not None and asked < 0:
        raise UserError(f"{command}: --gpus needs 0 or more, got {asked}")
    if asked == 0 or (asked is None and device in ("cpu", "mps")):
        return 0
    count = _gpu_count()
    if asked is None:
        return 1 if count else 0
    if asked > count:
        have = f"has {count}" if count else "has none (NVML sees no GPU)"
        raise UserError(f"{command}: --gpus {asked}: this machine {have}")
    return asked


def _add(store: QueueStore, args: argparse.Namespace) -> int:
    from tui_trainer.config.loader import load_config
    from tui_trainer.queue.daemon import ensure_running
    from tui_trainer.queue.paths import QueuePaths, live_pid

    preset, overrides = split_overrides(args.words[0] if args.words else None, args.words[1:])
    if preset is None:
        raise UserError("queue add: which preset? (tui-trainer queue add PRESET [overrides])")
    config, name = load_config(preset, overrides)  # bad input: exit 2, nothing queued
    gpus = gpus_wanted(args.gpus, config.device)
    if args.per_gpu is not None and args.per_gpu < 1:
        raise UserError(f"queue add: --per-gpu needs 1 or more, got {args.per_gpu}")
    out = Path(args.out or config.out).expanduser().absolute()
    job = store.add(
        preset,
        overrides,
        out=str(out),
        gpus=gpus,
        per_gpu=args.per_gpu or 1,
        priority=args.priority or 0,
        name=name,
    )
    paths = QueuePaths(store.path)
    was_running = live_pid(paths) is not None
    running = ensure_running(store)
    _wake(store)
    print(job.id)
    where = f"{gpus} GPU(s)" if gpus else "CPU"
    if not running:
        note = "; the scheduler is stopped: tui-trainer queue start"
    elif was_running:
        note = ""
    elif _wait_for_scheduler(paths):
        note = "; the scheduler started in the background"
    else:
        note = f"; the scheduler did not start, see {paths.log}"
    print(f"queued job {job.id} ({where}) under {out}{note}", file=sys.stderr)
    return 0


def _wait_for_scheduler(paths: QueuePaths, wait: float = 10.0) -> int | None:
    """The new scheduler's pid once it holds its lock (None if it did not within `wait` s)."""
    from tui_trainer.queue.paths import live_pid

    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        pid = live_pid(paths)
        if pid:
            return pid
        time.sleep(0.05)
    return None


def _live(job: Job) -> dict[str, Any]:
    """The job's run at a glance: epoch, planned epochs, best metric (empty when none yet)."""
    if not job.run_dir:
        return {}
    from tui_trainer.runlog.glance import glance
    from tui_trainer.runlog.layout import METRICS
    from tui_trainer.runlog.reader import Damaged

    run_dir = Path(job.run_dir)
    if not (run_dir / METRICS).is_file():
        return {}
    try:
        g = glance(run_dir)
    except Damaged:
        return {}
    metric, value, epoch = g.best
    return {"epoch": g.epoch, "epochs": g.epochs, "best": [metric, value, epoch]}


def job_record(job: Job) -> dict[str, Any]:
    """What `queue ls --json` prints for one job."""
    from dataclasses import asdict

    return {**asdict(job), **_live(job)}


def _ls(store: QueueStore, args: argparse.Namespace) -> int:
    from tui_trainer.queue.text import shown_order

    jobs = shown_order(store.jobs())
    if args.json:
        print(json.dumps([job_record(j) for j in jobs], indent=2))
        return 0
    if not jobs:
        print("The queue is empty: tui-trainer queue add PRESET [overrides]")
        return 0
    from tui_trainer.formatting import text_table

    header = ("JOB", "STATE", "PRI", "GPU", "RUN", "EPOCH", "BEST", "RUN DIR")
    rows = []
    for job in jobs:
        live = _live(job)
        best = live.get("best") or [None, None, None]
        rows.append(
            (
                str(job.id),
                job.state + (f" ({job.attempts})" if job.attempts > 1 else ""),
                str(job.priority),
                ",".join(map(str, job.gpu_ids)) or ("cpu" if job.gpus == 0 else f"{job.gpus}?"),
                "",  # the job's text: below, once the other columns' widths are known
                f"{live['epoch']}/{live['epochs']}" if live.get("epochs") else "-",
                f"{best[0]} {best[1]:.4g}" if isinstance(best[1], (int, float)) else "-",
                job.run_dir or (job.error or "-")[:60],
            )
        )
    import shutil

    from tui_trainer.queue.text import job_text

    # the RUN column takes what the terminal has left (at least 24 characters)
    others = sum(max(len(r[k]) for r in [header, *rows]) + 2 for k in range(len(header)) if k != 4)
    width = max(24, shutil.get_terminal_size().columns - others - 2)
    rows = [(*r[:4], job_text(job, width), *r[5:]) for r, job in zip(rows, jobs, strict=True)]
    print(text_table([header, *rows]))
    if any(j.state in ("queued", "running") for j in jobs):
        from tui_trainer.queue.paths import QueuePaths, live_pid

        if live_pid(QueuePaths(store.path)) is None:
            print("The scheduler is not running: tui-trainer queue start")
    return 0


def _each(store: QueueStore, args: argparse.Namespace) -> int:
    act = {"hold": store.hold, "release": store.release, "rm": store.remove, "retry": store.retry}
    done = {"hold": "held", "release": "released", "rm": "removed", "retry": "queued again"}
    errors: list[str] = []
    ids = _ids(args.words, args.action)
    for job_id in ids:
        try:
            act[args.action](job_id)
            print(f"job {job_id} {done[args.action]}")
        except UserError as exc:
            job = None
            if args.action == "rm":
                from contextlib import suppress

                with suppress(UserError):
                    job = store.get(job_id)
            if job is not None and job.state == "running":
                errors.append(
                    f"{exc}; stop it first: tui-trainer ctl {job.run_dir} stop "
                    "(or wait for it to end)"
                )
            else:
                errors.append(str(exc))
    if args.action != "hold":
        _wake(store)
    if len(errors) == 1:
        raise UserError(errors[0])
    if errors:  # like `rm a b`: the others were changed (said above); each refusal said here
        for error in errors:
            print(f"tui-trainer: {error}", file=sys.stderr)
        raise UserError(f"{len(errors)} of {len(ids)} jobs not {done[args.action]} (see above)")
    return 0


def _move(store: QueueStore, args: argparse.Namespace) -> int:
    (job_id,) = _ids(args.words, "move", one=True)
    if (args.to is None) == (args.before is None):
        raise UserError("queue move: give one of --to N or --before JOB")
    store.move(job_id, to_index=args.to, before_id=args.before)
    waiting = [j.id for j in store.jobs(["queued", "held"])]
    print(f"job {job_id} is now number {waiting.index(job_id)} of {len(waiting)} waiting")
    _wake(store)
    return 0


def _logs(store: QueueStore, args: argparse.Namespace) -> int:
    from tui_trainer.queue.paths import QueuePaths

    (job_id,) = _ids(args.words, "logs", one=True)
    store.get(job_id)  # no such job: one line
    path = QueuePaths(store.path).job_log(job_id)
    offset = 0
    while True:
        try:
            with path.open("rb") as fh:
                fh.seek(offset)
                chunk = fh.read()
        except FileNotFoundError:
            chunk = b""
        if chunk:
            sys.stdout.buffer.write(chunk)
            sys.stdout.flush()
            offset += len(chunk)
        if not args.follow or store.get(job_id).state not in ("queued", "held", "running"):
            if not offset and not args.follow:
                print(
                    f"job {job_id} has no output yet ({store.get(job_id).state})", file=sys.stderr
                )
            return 0
        try:
            time.sleep(0.5)
        except KeyboardInterrupt:  # Ctrl-C ends following (the job goes on)
            print(file=sys.stderr)
            return 130


def _start(store: QueueStore, args: argparse.Namespace) -> int:
    from tui_trainer.queue.daemon import WANTED_KEY, ensure_running
    from tui_trainer.queue.paths import QueuePaths, live_pid
    from tui_trainer.queue.scheduler import CPU_SLOTS_KEY

    if args.cpu_slots is not None:
        if args.cpu_slots < 1:
            raise UserError(f"queue start: --cpu-slots needs 1 or more, got {args.cpu_slots}")
        store.set_meta(CPU_SLOTS_KEY, str(args.cpu_slots))
    store.set_meta(WANTED_KEY, None)
    paths = QueuePaths(store.path)
    already = live_pid(paths)
    ensure_running(store)
    _wake(store)
    if already:
        print(f"the scheduler runs already (pid {already})")
        return 0
    pid = _wait_for_scheduler(paths)
    if not pid:
        raise UserError(f"the scheduler did not start; its log: {paths.log}")
    print(f"scheduler started (pid {pid}); its log: {paths.log}")
    return 0


def _stop(store: QueueStore, args: argparse.Namespace) -> int:
    from tui_trainer.queue.daemon import stop

    pid = stop(store, jobs=args.jobs, wait=180.0 if args.jobs else 10.0)
    if pid is None:
        print("no scheduler was running; a later `queue add` will not start one (queue start does)")
    else:
        if args.jobs:
            print(f"scheduler (pid {pid}) and its running jobs stopped")
        else:
            print(f"scheduler (pid {pid}) stopped; running jobs go on (queue start adopts them)")
    return 0
