"""Command line: `tui-trainer [PRESET] | run | watch | runs | ctl | replay | compare | presets |
check | gpus | eval | predict | export`.

The Textual UI is imported lazily, so headless commands never load it.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from collections.abc import Sequence
from typing import NoReturn

import yaml

from tui_trainer import __version__
from tui_trainer.after import cli as after_cli
from tui_trainer.errors import UserError
from tui_trainer.process_exit import finish_process

COMMANDS = (
    "run",
    "watch",
    "runs",
    "ctl",
    "replay",
    "presets",
    "check",
    "gpus",
    "compare",
    *after_cli.COMMANDS,
)
OVERRIDES_HELP = "dotted overrides such as optim.lr=0.01 epochs=3 precision=bf16"


class _Parser(argparse.ArgumentParser):
    """argparse, but bad arguments are a one-line UserError (exit 2) like all other bad input."""

    def error(self, message: str) -> NoReturn:
        """Raise instead of printing the usage block and exiting."""
        raise UserError(f"{self.prog}: {message} (see '{self.prog} --help')")


def positive_seconds(text: str) -> float:
    """An argparse type: a finite number of seconds > 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got '{text}'") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"expected a number of seconds > 0, got '{text}'")
    return value


def _console_parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="tui-trainer",
        description="Terminal training console for PyTorch vision models.",
        epilog="Commands: run PRESET [--detach] | watch [RUN_DIR] | runs [ROOT] | "
        "ctl RUN_DIR COMMAND | replay RUN_DIR | compare RUN_DIR RUN_DIR... | presets | "
        "check PRESET | gpus [--watch] | eval RUN_DIR | predict RUN_DIR IMAGE... | "
        "export RUN_DIR --format F. "
        "Run 'tui-trainer COMMAND --help' for each.",
    )
    p.add_argument("preset", nargs="?", help="preset name or YAML path to select")
    p.add_argument("overrides", nargs="*", help=OVERRIDES_HELP)
    p.add_argument("--start", action="store_true", help="start the run at once")
    p.add_argument("--resume", help="continue a run directory (or checkpoint) in the console")
    p.add_argument("--out", help="root folder for run directories (default: runs)")
    p.add_argument("--version", action="version", version=f"tui-trainer {__version__}")
    return p


def _command_parser(command: str) -> argparse.ArgumentParser:
    """One parser per command, so options and overrides may be intermixed."""
    p = _Parser(prog=f"tui-trainer {command}")
    if command == "run":
        p.description = "Headless training run."
        p.add_argument("preset", nargs="?", help="preset name or YAML path")
        p.add_argument("overrides", nargs="*", help=OVERRIDES_HELP)
        p.add_argument("--resume", help="run directory or checkpoint file to continue")
        p.add_argument("--out", help="root folder for run directories (default: runs)")
        p.add_argument(
            "--nproc",
            type=int,
            help="train in N processes (one per GPU) through torchrun; batch size is per process",
        )
        p.add_argument(
            "--detach",
            action="store_true",
            help="start in the background (survives the terminal); prints the run directory",
        )
    elif command == "watch":
        p.description = "The run screen for a run in another process; q leaves, the run goes on."
        p.add_argument("run_dir", nargs="?", help="run directory (default: newest live under runs)")
    elif command == "runs":
        p.description = "Every run under ROOT, live ones first."
        p.add_argument("root", nargs="?", default="runs", help="runs folder (default: runs)")
        p.add_argument("--json", action="store_true", help="JSON for scripts")
    elif command == "ctl":
        p.description = "Send one control command to a live run and print its answer."
        p.add_argument("run_dir")
        p.add_argument(
            "command",
            help="pause | resume | checkpoint | stop | status, or a steering change: "
            "lr=0.001 | lr=*0.5 | unfreeze | epochs=N | validate",
        )
        p.add_argument("--now", action="store_true", help="stop: at the next step, not epoch end")
    elif command == "replay":
        p.description = "Re-run the config.yaml saved in a run directory."
        p.add_argument("run_dir")
        p.add_argument("--out", help="root folder for the new run directory")
    elif command == "compare":
        p.description = (
            "Compare runs: overlaid curves, config diff and metrics on a terminal; "
            "the config diff and a metrics table when piped."
        )
        p.add_argument("run_dirs", nargs="*", metavar="RUN_DIR", help="two or more run directories")
    elif command in after_cli.COMMANDS:
        after_cli.configure(p, command)
    elif command == "presets":
        p.description = "List bundled and local presets."
    elif command == "check":
        p.description = "Validate and print the resolved config; runs nothing."
        p.add_argument("preset")
        p.add_argument("overrides", nargs="*", help=OVERRIDES_HELP)
    else:
        p.description = "GPU table (an nvidia-smi replacement); works without a GPU."
        p.add_argument("--watch", action="store_true", help="refresh until Ctrl-C")
        p.add_argument(
            "--interval", type=positive_seconds, default=1.0, help="seconds between refreshes"
        )
    return p


def _split_overrides(preset: str | None, overrides: list[str]) -> tuple[str | None, list[str]]:
    """`run epochs=3 --resume X`: a first positional with '=' is an override, not a preset."""
    if preset is not None and "=" in preset:
        return None, [preset, *overrides]
    return preset, overrides


def cmd_presets() -> int:
    """Print the presets, one line each."""
    from tui_trainer.config.preset_list import list_presets

    presets = list_presets()
    width = max((len(p.name) for p in presets), default=0)
    for p in presets:
        text = f"BROKEN: {p.problem}" if p.problem else p.description
        where = "" if p.bundled else f"  [{p.path}]"
        if p.shadows is not None:
            where += " (replaces the bundled one)"
        print(f"{p.name:<{width}}  {text}{where}")
    return 0


def cmd_check(preset: str, overrides: list[str]) -> int:
    """Validate a preset plus overrides and print the resolved config; runs nothing."""
    from tui_trainer.config.checks import static_checks
    from tui_trainer.config.loader import find_preset, load_config

    config, name = load_config(preset, overrides)
    notes, warnings = static_checks(config)
    print(f"# preset: {name} (valid), from {find_preset(preset).describe()}")
    try:  # which split and how many, when the data is here (folders walked, nothing decoded)
        from tui_trainer.engine.data.split_plan import plan_split

        split = plan_split(config)
    except UserError as exc:
        split, warnings = None, [*warnings, str(exc)]
    for note in [*([split] if split else []), *notes]:
        print(f"# note: {note}")
    for warning in warnings:
        print(f"# warning: {warning}")
    print(yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False, width=1000), end="")
    return 0


def cmd_gpus(watch: bool, interval: float) -> int:
    """Print the GPU table once, or refresh it until Ctrl-C."""
    from tui_trainer.telemetry.table import print_table, watch_table

    if watch:
        return watch_table(interval)
    return print_table()


def _launch(
    nproc: int, preset: str | None, overrides: list[str], out: str | None, resume: str | None
) -> int:
    """`run --nproc N`: validate here (exit 2, nothing started), then start N processes."""
    from tui_trainer.launch import launch, run_argv

    on_hangup = "continue"
    if preset is not None:
        from tui_trainer.config.loader import load_config

        on_hangup = load_config(preset, overrides)[0].on_hangup
    return launch(nproc, run_argv(preset, overrides, out=out, resume=resume), on_hangup)


def _detach(argv: list[str], preset: str | None, overrides: list[str]) -> int:
    """`run ... --detach`: validate here (exit 2, nothing started), then start in background."""
    from tui_trainer.remote.detach import start_detached

    if preset is not None:
        from tui_trainer.config.loader import load_config

        load_config(preset, overrides)
    return start_detached([a for a in argv if a != "--detach"])


def _remote_command(command: str, args: argparse.Namespace) -> int:
    """watch / runs / ctl."""
    if command == "runs":
        from tui_trainer.remote.runs import cmd_runs

        return cmd_runs(args.root, args.json)
    if command == "ctl":
        from tui_trainer.remote.commands import cmd_ctl

        return cmd_ctl(args.run_dir, args.command, args.now)
    from tui_trainer.remote.commands import watch_target

    run_dir = watch_target(args.run_dir)
    from tui_trainer.runlog import check_run

    check_run(run_dir)  # a damaged run directory: one line, exit 2 (not a crash screen)
    from tui_trainer.tui.app import run_watch

    return run_watch(run_dir)


def dispatch(argv: list[str]) -> int:
    """Parse `argv` and run the command; UserError propagates to `main`."""
    if argv and argv[0] in COMMANDS:
        command = argv[0]
        args = _command_parser(command).parse_intermixed_args(argv[1:])
        if command == "run":
            preset, overrides = _split_overrides(args.preset, args.overrides)
            if args.detach:
                return _detach(argv, preset, overrides)
            if args.nproc is not None and args.nproc != 1 and "WORLD_SIZE" not in os.environ:
                return _launch(args.nproc, preset, overrides, args.out, args.resume)
            from tui_trainer.engine.heap import collector_paused_until_training

            with collector_paused_until_training():
                from tui_trainer.headless import run_preset

                return run_preset(preset, overrides, out=args.out, resume=args.resume)
        if command in ("watch", "runs", "ctl"):
            return _remote_command(command, args)
        if command == "replay":
            from tui_trainer.engine.heap import collector_paused_until_training

            with collector_paused_until_training():
                from tui_trainer.headless import replay

                return replay(args.run_dir, out=args.out)
        if command == "compare":
            from tui_trainer.compare import cmd_compare

            return cmd_compare(args.run_dirs)
        if command in after_cli.COMMANDS:
            return after_cli.run(command, args)
        if command == "presets":
            return cmd_presets()
        if command == "check":
            return cmd_check(args.preset, args.overrides)
        return cmd_gpus(args.watch, args.interval)
    args = _console_parser().parse_intermixed_args(argv)
    preset, overrides = _split_overrides(args.preset, args.overrides)
    if args.resume is None and (preset is not None or overrides):
        from tui_trainer.config.loader import load_config

        load_config(preset, overrides)  # bad input fails here, before the screen opens
    from tui_trainer.tui.app import run_app

    return run_app(
        preset=preset, overrides=overrides, start=args.start, out=args.out, resume=args.resume
    )


def one_line(text: str) -> str:
    """A message on one line: any line breaks (from a library's text) become spaces."""
    return " ".join(text.split())


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of `tui-trainer` and `python -m tui_trainer`.

    Called without `argv` (the console script, `python -m`), the process ends here through
    `finish_process` once everything is written; called with `argv` it returns the exit code.
    """
    try:
        code = dispatch(list(sys.argv[1:] if argv is None else argv))
    except UserError as exc:
        print(f"tui-trainer: error: {one_line(str(exc))}", file=sys.stderr)
        code = exc.exit_code
    except BrokenPipeError:  # `tui-trainer check ... | head`
        sys.stderr.close()
        return 0
    if "RANK" in os.environ:  # a torchrun worker: tell a `run --nproc` launcher how it ended
        from tui_trainer.engine.distributed import end_worker
        from tui_trainer.headless import report_exit

        report_exit(code)
        end_worker(code)  # does not return in a process that ran a process group
    if argv is None:  # the process's own entry point: skip the interpreter's teardown
        finish_process(code)
    return code
