"""Commands that train: the console (no command), `run` and `replay`."""

from __future__ import annotations

import argparse
import os

from tui_trainer import __version__
from tui_trainer.commands.parsing import OVERRIDES_HELP, add_images_option, split_overrides
from tui_trainer.errors import UserError


def configure_console(p: argparse.ArgumentParser) -> None:
    """`tui-trainer [PRESET] [overrides] [--start] [--resume X] [--out DIR] [--images MODE]`."""
    p.add_argument("preset", nargs="?", help="preset name or YAML path to select")
    p.add_argument("overrides", nargs="*", help=OVERRIDES_HELP)
    p.add_argument("--start", action="store_true", help="start the run at once")
    p.add_argument("--resume", help="continue a run directory (or checkpoint) in the console")
    p.add_argument("--out", help="root folder for run directories (default: runs)")
    add_images_option(p)
    p.add_argument("--version", action="version", version=f"tui-trainer {__version__}")


def console(args: argparse.Namespace) -> int:
    """Open the Textual console; a bad preset or override fails before the screen opens."""
    from tui_trainer.tui.pictures.mode import chosen

    images = chosen(args.images)  # a bad value: one line, exit 2, before anything else
    preset, overrides = split_overrides(args.preset, args.overrides)
    if args.resume is None and (preset is not None or overrides):
        from tui_trainer.config.loader import load_config

        load_config(preset, overrides)  # bad input fails here, before the screen opens
    from tui_trainer.tui.entry import run_app

    return run_app(
        preset=preset,
        overrides=overrides,
        start=args.start,
        out=args.out,
        resume=args.resume,
        images=images,
    )


def configure_run(p: argparse.ArgumentParser) -> None:
    """`run [PRESET] [overrides] [--resume X] [--out DIR] [--run-dir DIR] [--nproc N
    [--max-restarts K]] [--detach]`."""
    p.add_argument("preset", nargs="?", help="preset name or YAML path")
    p.add_argument("overrides", nargs="*", help=OVERRIDES_HELP)
    p.add_argument("--resume", help="run directory or checkpoint file to continue")
    p.add_argument("--out", help="root folder for run directories (default: runs)")
    p.add_argument(
        "--run-dir",
        help="exactly this run directory: continue the resumable run of the same config in it, "
        "or start there when it is empty or absent (for schedulers that resubmit a command)",
    )
    p.add_argument(
        "--nproc",
        type=int,
        help="train in N processes (one per GPU) through torchrun; batch size is per process",
    )
    p.add_argument(
        "--max-restarts",
        type=int,
        default=0,
        help="with --nproc: start every process again up to K times after one dies; they "
        "continue the run from its last checkpoint (torchrun --max-restarts)",
    )
    p.add_argument(
        "--detach",
        action="store_true",
        help="start in the background (survives the terminal); prints the run directory",
    )


def run(args: argparse.Namespace) -> int:
    """A headless run: in the background (`--detach`), in N processes (`--nproc`) or here."""
    preset, overrides = split_overrides(args.preset, args.overrides)
    if args.run_dir is not None and (args.resume or args.out or preset is None):
        raise UserError(
            "--run-dir: give a PRESET, and neither --resume nor --out (the directory itself "
            "says whether the run starts or continues)"
        )
    if args.run_dir == "":
        raise UserError("--run-dir: expected a folder path, got an empty value")
    if args.max_restarts and args.nproc is None:
        raise UserError("--max-restarts: give --nproc N too (torchrun restarts those N processes)")
    if args.detach:
        return _detach(args.argv, preset, overrides)
    launched = args.nproc is not None and (args.nproc != 1 or bool(args.max_restarts))
    if launched and "WORLD_SIZE" not in os.environ:
        return _launch(args.nproc, preset, overrides, args)
    from tui_trainer.engine.heap import collector_paused_until_training

    with collector_paused_until_training():
        from tui_trainer.headless import run_preset

        return run_preset(preset, overrides, out=args.out, resume=args.resume, run_dir=args.run_dir)


def _launch(nproc: int, preset: str | None, overrides: list[str], args: argparse.Namespace) -> int:
    """`run --nproc N`: validate here (exit 2, nothing started), then start N processes."""
    from tui_trainer.launch import launch, run_argv

    on_hangup = "continue"
    if preset is not None:
        from tui_trainer.config.loader import load_config

        on_hangup = load_config(preset, overrides)[0].on_hangup
    argv = run_argv(preset, overrides, out=args.out, resume=args.resume, run_dir=args.run_dir)
    return launch(nproc, argv, on_hangup, args.max_restarts)


def _detach(argv: list[str], preset: str | None, overrides: list[str]) -> int:
    """`run ... --detach`: validate here (exit 2, nothing started), then start in background."""
    from tui_trainer.remote.detach import start_detached

    if preset is not None:
        from tui_trainer.config.loader import load_config

        load_config(preset, overrides)
    return start_detached([a for a in argv if a != "--detach"])


def configure_replay(p: argparse.ArgumentParser) -> None:
    """`replay RUN_DIR [--out DIR]`."""
    p.add_argument("run_dir", help="a run directory (holds config.yaml)")
    p.add_argument("--out", help="root folder for the new run directory")


def replay(args: argparse.Namespace) -> int:
    """Re-run the config.yaml saved in a run directory, headless."""
    from tui_trainer.engine.heap import collector_paused_until_training

    with collector_paused_until_training():
        from tui_trainer.headless import replay as replay_run

        return replay_run(args.run_dir, out=args.out)
