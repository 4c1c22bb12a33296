"""Headless runs: the console sink, signal handling and exit codes (docs/reliability.md).

Exit codes: 0 completed or stopped on request; 1 training failed; 2 bad input, nothing
written; 128+N after signal N (a checkpoint is saved first at the next step boundary).

Under torchrun every process runs `run_config`; the process group comes from the environment
(see `engine.distributed`). `run --nproc N` starts torchrun for you (`tui_trainer.launch`).
"""

from __future__ import annotations

import contextlib
import os
import shlex
import signal
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tui_trainer import restarts, slurm
from tui_trainer.atomic import atomic_write_text
from tui_trainer.config.loader import find_preset, load_config, resumed_config
from tui_trainer.config.names import one_line
from tui_trainer.config.schema import RunConfig
from tui_trainer.engine.distributed import DistContext
from tui_trainer.errors import UserError
from tui_trainer.launch import EXIT_FILE_ENV
from tui_trainer.next_steps import next_step_lines
from tui_trainer.outcome import exit_code
from tui_trainer.remote import remote_sinks
from tui_trainer.remote.endpoint import runtime_dir
from tui_trainer.remote.hangup import keeps_training
from tui_trainer.runlog import Damaged, read_summary
from tui_trainer.runlog.control import Control, StopMode
from tui_trainer.runlog.events import Event, RunStarted, Sink
from tui_trainer.session import execute
from tui_trainer.sinks.console import ConsoleSink
from tui_trainer.terminal import detach_from_terminal

STOP_SIGNALS = [signal.SIGINT, signal.SIGTERM] + (
    [signal.SIGHUP] if hasattr(signal, "SIGHUP") else []
)


@contextlib.contextmanager
def signal_handlers(
    control: Control,
    *,
    distributed: bool = False,
    quiet: bool = False,
    config: RunConfig | None = None,
    summary: dict[str, Any] | None = None,
) -> Iterator[None]:
    """Route stop signals and SIGUSR1 to `control`; a second SIGINT interrupts at once.

    SIGUSR1 is "checkpoint now", except inside a Slurm job (`slurm.in_job`), where
    `#SBATCH --signal=USR1@90` sends it before the time limit: there it checkpoints at the next
    step boundary and ends the run `interrupted`, exit 138, and `summary` (keys that join
    summary.json) gets `"signal": "SIGUSR1", "requeue": true`. A stop signal puts its name
    in `summary` too.

    A hang-up keeps training without the terminal when `config` says so (`on_hangup`, see
    `remote.hangup`); otherwise it stops like SIGTERM.

    `distributed` (a torchrun worker): Ctrl-C reaches a worker twice (from the terminal and
    forwarded by torchrun), so a second SIGINT does not escalate (torchrun kills workers that
    outlive its grace period). `quiet` (ranks other than 0): no message.

    The handlers act in this process only: a forked child (a `DataLoader` worker) inherits
    them, and Ctrl-C reaches the whole foreground process group, so each worker would print
    the message and ask its copy of `control` to stop. A child ignores the signal; its parent
    ends it with the run.
    """
    if sys.platform == "win32":  # pragma: no cover
        yield
        return
    hits: dict[int, int] = {}
    owner = os.getpid()

    def on_stop(signum: int, _frame: object) -> None:
        if os.getpid() != owner:  # a forked worker: the run's own process answers
            return
        hits[signum] = hits.get(signum, 0) + 1
        if config is not None and keeps_training(config, signum):
            detach_from_terminal()  # carry on without it; `tui-trainer watch` re-attaches
            return
        if signum == signal.SIGINT and hits[signum] > 1 and not distributed:
            raise KeyboardInterrupt
        control.request_stop(StopMode.STEP, status="interrupted", signal=signum)
        if summary is not None:
            summary.setdefault("signal", signal.Signals(signum).name)
        if signum == getattr(signal, "SIGHUP", None):
            detach_from_terminal()  # the terminal is gone: writing to it would fail
            return
        if quiet or (hits[signum] > 1 and distributed):
            return
        name = signal.Signals(signum).name
        with contextlib.suppress(OSError):
            print(
                f"\n{name}: saving a checkpoint at the next step boundary, then exiting"
                + (
                    " (Ctrl-C again to exit at once)"
                    if signum == signal.SIGINT and not distributed
                    else ""
                ),
                file=sys.stderr,
                flush=True,
            )

    def on_usr1(signum: int, _frame: object) -> None:
        if os.getpid() != owner:
            return
        if not slurm.in_job(os.environ):
            control.request_checkpoint()
            return
        control.request_stop(StopMode.STEP, status="interrupted", signal=signum)
        if summary is not None:
            summary.update(signal="SIGUSR1", requeue=True)
        if not quiet and not hits.get(signum):
            with contextlib.suppress(OSError):
                print(
                    "\nSIGUSR1 in a Slurm job (the time limit is near): saving a checkpoint at "
                    f"the next step boundary, then exiting {128 + signum} for a requeue",
                    file=sys.stderr,
                    flush=True,
                )
        hits[signum] = hits.get(signum, 0) + 1

    previous = {s: signal.signal(s, on_stop) for s in STOP_SIGNALS}
    previous[signal.SIGUSR1] = signal.signal(signal.SIGUSR1, on_usr1)
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def run_config(
    config: RunConfig,
    preset: str,
    *,
    out: str | None = None,
    resume: str | Path | None = None,
    sinks: list[Sink] | None = None,
    run_dir: str | Path | None = None,
    rerun: str | None = None,
) -> int:
    """Run `config` headless on the main thread and return the exit code.

    `run_dir` (`run --run-dir`): exactly that run directory (see `tui_trainer.run_target`);
    `rerun`, the command that continues it, joins summary.json (`rerun_command`). Under
    `torchrun --max-restarts` a restarted attempt continues the first attempt's directory
    (`tui_trainer.restarts`).

    Under torchrun (RANK/WORLD_SIZE set) this is one rank: rank 0 prints and writes, the
    others only report their own failure on stderr.
    """
    control = Control()
    dist = DistContext.from_env()
    all_sinks: list[Sink] = [ConsoleSink(), *(sinks or [])] if dist.is_main else []
    started: list[str] = []  # the run directory, for the lines after a second Ctrl-C

    def note_run_dir(event: Event) -> None:
        if isinstance(event, RunStarted) and event.run_dir is not None:
            started.append(event.run_dir)

    env = os.environ
    attempt = restarts.attempt(env)
    own_dir = run_dir is None and resume is None  # a restart must find the directory itself
    summary: dict[str, Any] = {"rerun_command": rerun} if rerun else {}
    if attempt > 0 and slurm.in_job(env):  # torchrun restarted the workers inside a Slurm job
        earlier = Path(run_dir) if run_dir is not None else (_restart_dir() if own_dir else None)
        if earlier is not None and _stopped_for_requeue(earlier):
            if dist.is_main:  # the attempt before ended for Slurm's requeue: so does this one
                print(
                    f"tui-trainer: the run in {earlier} stopped for a Slurm requeue (SIGUSR1); "
                    f"not continuing it in this job: exiting {128 + signal.SIGUSR1}",
                    file=sys.stderr,
                )
            return 128 + signal.SIGUSR1
    if dist.is_main:
        all_sinks += remote_sinks(control)
        all_sinks.append(note_run_dir)
        if own_dir and restarts.may_restart(env):
            all_sinks.append(_restart_pointer)
    with signal_handlers(
        control,
        distributed=dist.enabled,
        quiet=not dist.is_main,
        config=config,
        summary=summary,
    ):
        try:
            finished = execute(
                config,
                preset,
                sinks=all_sinks,
                control=control,
                out=out,
                resume=resume,
                dist=dist,
                run_dir=run_dir,
                restart_dir=_restart_dir if own_dir and attempt > 0 else None,
                attempt=attempt,
                summary=summary,
            )
        except KeyboardInterrupt:
            print("interrupted", file=sys.stderr)
            if started:  # from the last checkpoint saved before it
                summary = {"status": "interrupted", "run_dir": started[0]}
                print("\n".join(next_step_lines(summary)), file=sys.stderr)
            return 128 + signal.SIGINT
    if finished.status == "failed" and not dist.is_main:
        print(f"tui-trainer: rank {dist.rank} failed: {finished.error}", file=sys.stderr)
    if dist.is_main and own_dir and finished.status in ("completed", "stopped"):
        with contextlib.suppress(UserError):
            restarts.forget(runtime_dir(), env)  # nothing left to restart into
    if finished.status == "completed":  # a signal that came as the last step ended
        return 0  # (a requeue after exit 128+N would find a finished run and be refused)
    return exit_code(finished.status, control.exit_signal)


def _restart_pointer(event: Event) -> None:
    """Rank 0 under `torchrun --max-restarts`: where the run went, for a restarted attempt."""
    if isinstance(event, RunStarted) and event.run_dir is not None:
        with contextlib.suppress(UserError):
            restarts.remember(runtime_dir(), os.environ, event.run_dir)


def _stopped_for_requeue(run_dir: Path) -> bool:
    """Whether the run in `run_dir` ended on Slurm's SIGUSR1 to be requeued (summary.json)."""
    try:
        summary = read_summary(run_dir)
    except Damaged:
        return False
    return summary is not None and summary.get("requeue") is True


def _restart_dir() -> Path | None:
    """Rank 0 of a restarted attempt: the run directory the first attempt created."""
    try:
        return restarts.recall(runtime_dir(), os.environ)
    except UserError:  # no private runtime folder: no pointer either
        return None


def report_exit(code: int) -> None:
    """Each rank of a `launch`ed run leaves its exit code for the launcher: rank 0 always, the
    others when they fail (torchrun may stop rank 0 before it writes, once another rank ended)."""
    path = os.environ.get(EXIT_FILE_ENV)
    dist = DistContext.from_env()
    if not path or (code == 0 and not dist.is_main):
        return
    target = Path(path) if dist.is_main else Path(f"{path}.rank{dist.rank}")
    with contextlib.suppress(OSError):  # whole or absent: the launcher reads it after us
        atomic_write_text(target, str(code))


def run_preset(
    preset: str | None,
    overrides: list[str],
    *,
    out: str | None = None,
    resume: str | None = None,
    run_dir: str | None = None,
) -> int:
    """`tui-trainer run`: a preset (or the config saved with the resumed run) plus overrides.

    `run_dir`: exactly that run directory, started or continued (`tui_trainer.run_target`;
    `commands.train.run` has checked that a preset and no --resume/--out came with it).
    """
    if resume is not None:
        config, name = resumed_config(resume, preset, overrides)
    elif preset is None:
        raise UserError("run: give a PRESET (name or YAML path), or --resume RUN_DIR")
    else:
        config, name = load_config(preset, overrides)
    if preset is not None and DistContext.from_env().is_main:
        where = one_line(find_preset(preset).describe())  # a newline in a path: still one line
        print(f"preset: {name} from {where}", flush=True)
    rerun = None
    if run_dir is not None:  # the same command continues it (what a requeue runs)
        rerun = shlex.join(["tui-trainer", "run", preset or "", *overrides, "--run-dir", run_dir])
        world = DistContext.from_env().world_size
        if world > 1 and os.environ.get(EXIT_FILE_ENV):  # started by `run --nproc N`
            rerun += f" --nproc {world}"
    return run_config(config, name, out=out, resume=resume, run_dir=run_dir, rerun=rerun)


def replay(run_dir: str, out: str | None = None) -> int:
    """`tui-trainer replay RUN_DIR`: run the saved, fully resolved config.yaml as is."""
    path = Path(run_dir)
    source = path / "config.yaml" if path.is_dir() else path
    if not source.is_file():
        raise UserError(f"{run_dir}: no config.yaml (expected a run directory)")
    config, name = load_config(source, [])
    return run_config(config, name, out=out)
