"""`tui-trainer exec -- CMD ...`: a user's training script, with the run screen attached."""

from __future__ import annotations

import argparse
import sys

from tui_trainer.commands.parsing import CliParser, add_images_option


def configure_exec(p: argparse.ArgumentParser) -> None:
    """`exec [--out DIR] [--name NAME] [--images MODE] -- CMD ARGS...`."""
    p.add_argument("--out", default="runs", help="runs folder (default: runs)")
    p.add_argument(
        "--name",
        default=None,
        help="the run's name: out/NAME/<timestamp> (default: the script's file name)",
    )
    add_images_option(p)
    p.add_argument(
        "command",
        nargs="*",
        metavar="CMD",
        help="the script's command line, after '--' (e.g. -- python train.py --lr 0.1)",
    )
    if isinstance(p, CliParser):
        p.command_tail = "command"  # every word after `--` is the script's, options included


def exec_script(args: argparse.Namespace) -> int:
    """Start the script in a fresh run directory; the run screen on a terminal, its output
    as it comes otherwise. Returns the script's exit code (0 when left running)."""
    from tui_trainer.script_exec import print_started, run_headless, start_script
    from tui_trainer.tui.pictures.mode import chosen

    images = chosen(args.images)  # a bad value: one line, exit 2, before the script starts
    script = start_script(list(args.command), args.out, args.name)
    if not (sys.stdout.isatty() and sys.stdin.isatty()):
        print_started(script)
        return run_headless(script)
    from tui_trainer.tui.exec_app import run_exec

    return run_exec(script, images)
