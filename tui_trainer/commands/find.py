"""`find-lr` (the LR range test) and `find-batch` (the largest batch that fits, measured).

Both build the preset's real data and model (`tui_trainer.find.parts`), create no run directory,
and print what they measured, the choice and why, ending with a line for scripts; `--json`
prints one JSON object instead. Bad input (preset, override, option) is exit 2; a finder that
cannot measure (out of memory, no finite loss) is exit 1.
"""

from __future__ import annotations

import argparse
import math
import os
import re
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from tui_trainer.commands.parsing import OVERRIDES_HELP, split_overrides
from tui_trainer.errors import UserError

if TYPE_CHECKING:
    from tui_trainer.config.schema import RunConfig

SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMGT]?)(?:i?B)?\s*$", re.IGNORECASE)


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number > 0, got '{text}'") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"expected a number > 0, got '{text}'")
    return value


def _steps(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 3, got '{text}'") from None
    if value < 3:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 3, got '{text}'")
    return value


def _fraction(text: str) -> float:
    value = _positive(text)
    if value > 1:
        raise argparse.ArgumentTypeError(f"expected a share of memory in (0, 1], got '{text}'")
    return value


def parse_size(text: str) -> int:
    """`512M`, `2G`, `1.5GiB`, `1000000` → bytes (an argparse type)."""
    match = SIZE.match(text)
    if match is None or float(match.group(1)) <= 0:
        raise argparse.ArgumentTypeError(f"expected a size such as 512M or 2G, got '{text}'")
    power = " KMGT".index((match.group(2) or " ").upper())
    return int(float(match.group(1)) * 1024**power)


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("preset", help="preset name or YAML path")
    p.add_argument("overrides", nargs="*", help=OVERRIDES_HELP)
    p.add_argument("--json", action="store_true", help="print one JSON object (no chart)")


def configure_find_lr(p: argparse.ArgumentParser) -> None:
    """`find-lr PRESET [overrides] [--steps N] [--start LR] [--end LR] [--json] [--nproc N]`."""
    _common(p)
    p.add_argument(
        "--steps", type=_steps, default=100, help="optimizer steps of the test (default 100)"
    )
    # --start-lr/--end-lr: the spelling torchrun passes on (it takes --start for --start-method)
    p.add_argument(
        "--start",
        "--start-lr",
        dest="start",
        type=_positive,
        default=1e-7,
        help="first LR (default 1e-7; --start-lr under torchrun)",
    )
    p.add_argument(
        "--end", "--end-lr", dest="end", type=_positive, default=10.0, help="last LR (default 10)"
    )
    p.add_argument(
        "--nproc",
        type=int,
        help="run in N processes through torchrun, as `run --nproc` (rank 0 decides)",
    )


def configure_find_batch(p: argparse.ArgumentParser) -> None:
    """`find-batch PRESET [overrides] [--fraction F] [--max-memory SIZE] [--json]`."""
    _common(p)
    p.add_argument(
        "--fraction",
        type=_fraction,
        default=0.9,
        help="share of the device's memory (CPU: of the RAM available) a batch may use "
        "(default 0.9)",
    )
    p.add_argument(
        "--max-memory",
        type=parse_size,
        help="a bound in bytes on top of --fraction, such as 8G (CPU: RSS growth)",
    )


def _load(args: argparse.Namespace, command: str) -> tuple[str, list[str], RunConfig, str]:
    preset, overrides = split_overrides(args.preset, args.overrides)
    if preset is None:
        raise UserError(f"{command}: give a PRESET (name or YAML path) before the overrides")
    from tui_trainer.config.loader import load_config

    config, name = load_config(preset, overrides)  # bad input: exit 2, before torch loads
    return preset, overrides, config, name


def find_lr(args: argparse.Namespace) -> int:
    """Run the LR range test and print the chart and the suggestion."""
    if args.start >= args.end:
        raise UserError(f"find-lr: --start ({args.start:g}) must be below --end ({args.end:g})")
    preset, overrides, config, name = _load(args, "find-lr")
    if args.nproc is not None and args.nproc != 1 and "WORLD_SIZE" not in os.environ:
        from tui_trainer.launch import launch

        argv = ["find-lr", preset, *overrides, "--steps", str(args.steps)]
        argv += ["--start-lr", repr(args.start), "--end-lr", repr(args.end)]
        return launch(args.nproc, argv + (["--json"] if args.json else []))
    from tui_trainer.find.service import FinderFailed, run_find_lr

    try:
        finding, is_main = run_find_lr(
            config, name, steps=args.steps, start=args.start, end=args.end, progress=sys.stderr
        )
    except FinderFailed as exc:
        print(f"tui-trainer: error: find-lr: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return _interrupted("find-lr")
    if is_main:
        _say_preset(preset, name, args.json)
        _print(finding, args.json, _lr_report)
    return 0


def _interrupted(command: str) -> int:
    """Ctrl-C while measuring: one line and 130 (nothing was written; the model is untouched)."""
    print(f"\n{command}: interrupted; nothing was changed", file=sys.stderr)
    return 130


def _lr_report(finding: dict[str, Any]) -> list[str]:
    from tui_trainer.find.report import lr_lines

    return lr_lines(finding, terminal=sys.stdout.isatty())


def find_batch(args: argparse.Namespace) -> int:
    """Measure batch sizes and print the largest (CUDA) or fastest (CPU) that fits."""
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        raise UserError(
            "find-batch: run it in one process (not under torchrun): the batch it finds is "
            "per process"
        )
    _preset, _overrides, config, name = _load(args, "find-batch")
    from tui_trainer.find.service import FinderFailed, run_find_batch

    try:
        finding = run_find_batch(
            config, name, fraction=args.fraction, bound_bytes=args.max_memory, progress=sys.stderr
        )
    except FinderFailed as exc:
        print(f"tui-trainer: error: find-batch: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return _interrupted("find-batch")
    from tui_trainer.find.report import batch_lines

    _say_preset(_preset, name, args.json)
    _print(finding, args.json, batch_lines)
    return 0 if finding["batch"] else 1


def _say_preset(preset: str, name: str, as_json: bool) -> None:
    """`preset: NAME from WHERE`, as `run` says it (not with --json: one object only)."""
    if not as_json:
        from tui_trainer.config.loader import find_preset
        from tui_trainer.config.names import one_line

        print(f"preset: {name} from {one_line(find_preset(preset).describe())}", flush=True)


def _print(
    finding: dict[str, Any], as_json: bool, lines: Callable[[dict[str, Any]], list[str]]
) -> None:
    from tui_trainer.find.report import as_json as dumps

    print(dumps(finding) if as_json else "\n".join(lines(finding)), flush=True)
