"""Commands on runs in other processes: `watch`, `runs`, `ctl`."""

from __future__ import annotations

import argparse

from tui_trainer.commands.parsing import add_images_option


def configure_watch(p: argparse.ArgumentParser) -> None:
    """`watch [RUN_DIR] [--images MODE]`."""
    p.add_argument("run_dir", nargs="?", help="run directory (default: newest live under runs)")
    add_images_option(p)


def watch(args: argparse.Namespace) -> int:
    """The run screen attached to a live run; a damaged run directory is one line, exit 2."""
    from tui_trainer.tui.pictures.mode import chosen

    images = chosen(args.images)
    from tui_trainer.remote.commands import watch_target

    run_dir = watch_target(args.run_dir)
    from tui_trainer.runlog import check_run

    check_run(run_dir)  # a damaged run directory: one line, exit 2 (not a crash screen)
    from tui_trainer.tui.entry import run_watch

    return run_watch(run_dir, images)


def configure_runs(p: argparse.ArgumentParser) -> None:
    """`runs [ROOT] [--json]`."""
    p.add_argument("root", nargs="?", default="runs", help="runs folder (default: runs)")
    p.add_argument("--json", action="store_true", help="JSON for scripts")


def runs(args: argparse.Namespace) -> int:
    """Every run under ROOT, live ones first."""
    from tui_trainer.remote.runs import cmd_runs

    return cmd_runs(args.root, args.json)


def configure_ctl(p: argparse.ArgumentParser) -> None:
    """`ctl RUN_DIR COMMAND [--now]`."""
    p.add_argument("run_dir", help="the live run's directory")
    p.add_argument(
        "command",
        help="pause | resume | checkpoint | stop | prune | status, or a steering change: "
        "lr=0.001 | lr=*0.5 | unfreeze | epochs=N | validate",
    )
    p.add_argument("--now", action="store_true", help="stop: at the next step, not epoch end")


def ctl(args: argparse.Namespace) -> int:
    """Send one control command to a live run and print its answer."""
    from tui_trainer.remote.commands import cmd_ctl

    return cmd_ctl(args.run_dir, args.command, args.now)
