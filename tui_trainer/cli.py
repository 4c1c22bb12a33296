"""Command line: `tui-trainer [PRESET] | run | watch | runs | ctl | replay | compare | presets |
check | gpus | eval | predict | export | exec | find-lr | find-batch`.

Each command is a row of `tui_trainer.commands.table` (its parser and its handler); this module
parses, dispatches through the table and turns errors into one line and an exit code. The
Textual UI and the engine are imported lazily by the handlers, so light commands never load them.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from tui_trainer.commands.table import find
from tui_trainer.errors import UserError
from tui_trainer.process_exit import finish_process


def dispatch(argv: list[str]) -> int:
    """Parse `argv` and run the command; UserError propagates to `main`."""
    command, rest = find(argv)
    args = command.parser().parse_intermixed_args(rest, namespace=argparse.Namespace(argv=argv))
    return command.handler(args)


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
