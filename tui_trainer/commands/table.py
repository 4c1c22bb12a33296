"""The command table: every `tui-trainer` command as one row (name, usage, description, parser
builder, handler), and the walk over the parsers it builds (for help checks and docs).

Adding a command is adding a row here; `tui_trainer.cli` dispatches through the table only.
Every module a row points at imports nothing heavy at its top.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from tui_trainer.after import cli as after
from tui_trainer.commands import compare, info, queue, remote, script, sweep, train
from tui_trainer.commands import find as finders
from tui_trainer.commands.parsing import CliParser

PROG = "tui-trainer"


@dataclass(frozen=True)
class Command:
    """One command: `configure` adds its arguments to a fresh parser, `handler` runs it with
    the parsed arguments (plus `args.argv`, the whole command line) and returns the exit code."""

    name: str
    usage: str
    """The command's line in the top-level help's list of commands."""
    description: str
    configure: Callable[[argparse.ArgumentParser], None]
    handler: Callable[[argparse.Namespace], int]

    def parser(self) -> argparse.ArgumentParser:
        """A fresh parser for this command (one per command, so options and positionals may
        be intermixed)."""
        prog = f"{PROG} {self.name}" if self.name else PROG
        p = CliParser(prog=prog, description=self.description, epilog=self._epilog())
        self.configure(p)
        return p

    def _epilog(self) -> str | None:
        if self.name:
            return None
        return (
            "Commands: "
            + " | ".join(command.usage for command in COMMANDS)
            + ". Run 'tui-trainer COMMAND --help' for each."
        )


COMMANDS: tuple[Command, ...] = (
    Command(
        "run", "run PRESET [--detach]", "Headless training run.", train.configure_run, train.run
    ),
    Command(
        "watch",
        "watch [RUN_DIR]",
        "The run screen for a run in another process; q leaves, the run goes on.",
        remote.configure_watch,
        remote.watch,
    ),
    Command(
        "runs",
        "runs [ROOT]",
        "Every run under ROOT, live ones first.",
        remote.configure_runs,
        remote.runs,
    ),
    Command(
        "ctl",
        "ctl RUN_DIR COMMAND",
        "Send one control command to a live run and print its answer.",
        remote.configure_ctl,
        remote.ctl,
    ),
    Command(
        "queue",
        "queue add|ls|hold|release|rm|retry|move|logs|start|stop",
        "Queue runs for a background scheduler that starts them on free GPUs (or CPU slots) "
        "and outlives the terminal; each job is an ordinary run (watch, ctl, runs).",
        queue.configure,
        queue.queue,
    ),
    Command(
        "sweep",
        "sweep PRESET key=a,b ... [--trials N] | sweep status [SWEEP] | sweep best SWEEP",
        "Try a preset with many overrides, each trial a queued run: a grid (key=a,b,c), or "
        "--trials N drawn from key=loguniform:LOW:HIGH ... (random, or Optuna's TPE); "
        "'sweep status' ranks the trials, 'sweep best SWEEP --save-preset NAME' keeps the winner.",
        sweep.configure,
        sweep.sweep,
    ),
    Command(
        "exec",
        "exec [--out DIR] -- CMD...",
        "Run your own training script (one that calls tui_trainer.init) with the run screen "
        "attached; its output goes to RUN_DIR/output.log; q leaves, the script goes on.",
        script.configure_exec,
        script.exec_script,
    ),
    Command(
        "replay",
        "replay RUN_DIR",
        "Re-run the config.yaml saved in a run directory.",
        train.configure_replay,
        train.replay,
    ),
    Command(
        "compare",
        "compare RUN_DIR RUN_DIR...",
        "Compare runs: overlaid curves, config diff and metrics on a terminal; "
        "the config diff and a metrics table when piped.",
        compare.configure,
        compare.compare,
    ),
    Command(
        "find-lr",
        "find-lr PRESET",
        "LR range test on the preset's model and data (a copy; no run directory): the "
        "loss-vs-LR chart and a suggested LR, last line 'suggested lr: X'.",
        finders.configure_find_lr,
        finders.find_lr,
    ),
    Command(
        "find-batch",
        "find-batch PRESET",
        "The largest batch (CUDA) or the fastest (CPU) whose measured memory of full training "
        "steps and validation fits; last line 'suggested batch size: N'.",
        finders.configure_find_batch,
        finders.find_batch,
    ),
    Command(
        "presets",
        "presets",
        "List bundled and local presets.",
        info.configure_presets,
        info.presets,
    ),
    Command(
        "check",
        "check PRESET",
        "Validate and print the resolved config; runs nothing.",
        info.configure_check,
        info.check,
    ),
    Command(
        "gpus",
        "gpus [--watch]",
        "GPU table (an nvidia-smi replacement); works without a GPU.",
        info.configure_gpus,
        info.gpus,
    ),
    Command(
        "eval",
        "eval RUN_DIR",
        "Metrics of a checkpoint on the run's validation split (or other data given by "
        "overrides); writes RUN_DIR/eval/<timestamp>/eval.json.",
        after.configure_eval,
        after.evaluate,
    ),
    Command(
        "predict",
        "predict RUN_DIR IMAGE...",
        "Predictions for image files and folders; classification prints the top-k classes "
        "and writes predictions.csv, segmentation writes mask and overlay PNGs.",
        after.configure_predict,
        after.predict,
    ),
    Command(
        "export",
        "export RUN_DIR --format F",
        "Export the model (CPU, fp32, dynamic batch) with its preprocessing JSON; outputs "
        "are checked against PyTorch first.",
        after.configure_export,
        after.export,
    ),
)

CONSOLE = Command(
    "",
    "[PRESET]",
    "Terminal training console for PyTorch vision models.",
    train.configure_console,
    train.console,
)
"""No command: the console. A first word that names no command is its PRESET."""

BY_NAME: dict[str, Command] = {command.name: command for command in COMMANDS}


def find(argv: list[str]) -> tuple[Command, list[str]]:
    """The command `argv` names and the arguments after its name (the console and all of
    `argv` when its first word is no command)."""
    if argv and argv[0] in BY_NAME:
        return BY_NAME[argv[0]], argv[1:]
    return CONSOLE, argv


def parsers() -> Iterator[tuple[Command, argparse.ArgumentParser]]:
    """Every command with a fresh parser of its own, the console first."""
    for command in (CONSOLE, *COMMANDS):
        yield command, command.parser()


def arguments(parser: argparse.ArgumentParser) -> Iterator[argparse.Action]:
    """Every argument of `parser` (positionals and options, `--help` included), in help order."""
    yield from parser._actions  # argparse has no public accessor for its arguments


def undocumented(
    parsers_: Iterable[argparse.ArgumentParser] | None = None,
) -> list[str]:
    """`prog: argument` for each parser without a description and each argument without help
    text (every command's parser unless `parsers_` names others); empty when the help is
    complete."""
    if parsers_ is None:
        parsers_ = [parser for _, parser in parsers()]
    missing = []
    for parser in parsers_:
        if not parser.description:
            missing.append(f"{parser.prog}: description")
        for action in arguments(parser):
            if not action.help or action.help == argparse.SUPPRESS:
                name = "/".join(action.option_strings) or action.dest
                missing.append(f"{parser.prog}: {name}")
    return missing
