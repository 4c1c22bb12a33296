"""`compare RUN_DIR RUN_DIR...`: the comparison view on a terminal, text when piped.

The rows themselves are built in `tui_trainer.compare`; this is only the command.
"""

from __future__ import annotations

import argparse
import sys


def configure(p: argparse.ArgumentParser) -> None:
    """`compare RUN_DIR...`."""
    p.add_argument("run_dirs", nargs="*", metavar="RUN_DIR", help="two or more run directories")


def compare(args: argparse.Namespace) -> int:
    """Read the runs strictly (bad input or a damaged run: one line, exit 2); open the view on
    a TTY, else print text."""
    from tui_trainer.runlog import read_runs

    runs = read_runs(args.run_dirs)
    if sys.stdout.isatty() and sys.stdin.isatty():
        from tui_trainer.tui.compare_app import run_compare

        return run_compare(runs)
    from tui_trainer.compare import render_text

    sys.stdout.write(render_text(runs))
    return 0
