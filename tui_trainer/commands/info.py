"""Commands that only look: `presets`, `check`, `gpus` (light: no torch, no Textual)."""

from __future__ import annotations

import argparse
import sys

from tui_trainer.commands.parsing import OVERRIDES_HELP, positive_seconds
from tui_trainer.errors import UserError


def configure_presets(p: argparse.ArgumentParser) -> None:
    """`presets` takes no arguments."""


def presets(args: argparse.Namespace) -> int:
    """Print the presets, one line each."""
    from tui_trainer.config.preset_list import list_presets

    found = list_presets()
    width = max((len(p.name) for p in found), default=0)
    for p in found:
        text = f"BROKEN: {p.problem}" if p.problem else p.description
        where = "" if p.bundled else f"  [{p.path}]"
        if p.shadows is not None:
            where += " (replaces the bundled one)"
        print(f"{p.name:<{width}}  {text}{where}")
    return 0


def configure_check(p: argparse.ArgumentParser) -> None:
    """`check PRESET [overrides]`."""
    p.add_argument("preset", help="preset name or YAML path")
    p.add_argument("overrides", nargs="*", help=OVERRIDES_HELP)


def check(args: argparse.Namespace) -> int:
    """Validate a preset plus overrides and print the resolved config; runs nothing."""
    import yaml

    from tui_trainer.config.checks import static_checks
    from tui_trainer.config.code_check import verify_code
    from tui_trainer.config.code_specs import metric_keys, metric_mode
    from tui_trainer.config.loader import find_preset, load_config

    config, name = load_config(args.preset, args.overrides)
    verified, problems = verify_code(config)  # every module:Class, imported, none called
    if problems:
        for problem in problems:
            print(f"tui-trainer: error: {' '.join(str(problem).split())}", file=sys.stderr)
        return 2
    if config.metrics:  # checkpoint.mode as the run records it (the metric's higher_is_better)
        config = metric_mode(config)
    notes, warnings = static_checks(config)
    print(f"# preset: {name} (valid), from {find_preset(args.preset).describe()}")
    try:  # which split and how many, when the data is here (folders walked, nothing decoded)
        from tui_trainer.engine.data.split_plan import plan_split

        split = plan_split(config)
    except UserError as exc:
        split, warnings = None, [*warnings, str(exc)]
    if verified:
        notes.append("Python code imported and checked (nothing called): " + "; ".join(verified))
    if config.metrics:
        keys = metric_keys([spec.name for spec in config.metrics])
        monitor, mode = config.monitor()
        notes.append(f"epoch lines get {', '.join(keys)}; best.pt follows {monitor} ({mode})")
    for note in [*([split] if split else []), *notes]:
        print(f"# note: {note}")
    for warning in warnings:
        print(f"# warning: {warning}")
    print(yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False, width=1000), end="")
    return 0


def configure_gpus(p: argparse.ArgumentParser) -> None:
    """`gpus [--watch] [--interval S]`."""
    p.add_argument("--watch", action="store_true", help="refresh until Ctrl-C")
    p.add_argument(
        "--interval", type=positive_seconds, default=1.0, help="seconds between refreshes"
    )


def gpus(args: argparse.Namespace) -> int:
    """Print the GPU table once, or refresh it until Ctrl-C."""
    from tui_trainer.telemetry.table import print_table, watch_table

    if args.watch:
        return watch_table(args.interval)
    return print_table()
