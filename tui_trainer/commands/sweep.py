"""`sweep`: queue a grid, random or Optuna search; `sweep status` (the leaderboard) and
`sweep best` (the winner as a preset).

`sweep PRESET ITEMS...` makes a sweep; a first word `status` or `best` is the subcommand
instead (a preset file of that name is given by its path: `presets/status.yaml`).
"""

from __future__ import annotations

import argparse
import json
from functools import partial
from typing import Any

from tui_trainer.commands.parsing import OVERRIDES_HELP
from tui_trainer.errors import UserError

SUBCOMMANDS = ("status", "best")


def configure(p: argparse.ArgumentParser) -> None:
    """`sweep PRESET ITEMS... [options]` | `sweep status [SWEEP] [--json]` |
    `sweep best SWEEP --save-preset NAME`."""
    p.add_argument(
        "preset",
        help="preset name or YAML path to sweep; or `status` (the leaderboard) or `best` "
        "(the winner)",
    )
    p.add_argument(
        "items",
        nargs="*",
        help=f"{OVERRIDES_HELP}; key=a,b,c tries each value (a grid), "
        "key=loguniform:LOW:HIGH | uniform:LOW:HIGH | int:LOW:HIGH | choice:a,b draws one per "
        "trial (with --trials); quote a value holding a comma ('a,b') or bracket it ([1,2]). "
        "After status/best: the sweep's name",
    )
    p.add_argument("--trials", type=int, help="how many trials to draw (random or TPE search)")
    p.add_argument(
        "--sampler",
        help="grid (default without --trials), tpe (Optuna; the default with --trials when it "
        "is installed) or random (built in, seeded)",
    )
    p.add_argument("--seed", type=int, default=0, help="seed of the draws (default 0)")
    p.add_argument(
        "--parallel",
        type=int,
        default=2,
        help="TPE: trials queued or running at once (default 2)",
    )
    p.add_argument(
        "--prune",
        action="store_true",
        help="stop trials whose epoch metric is below the median of earlier trials (Optuna)",
    )
    p.add_argument("--name", help="the sweep's name (default: PRESET-TIMESTAMP)")
    p.add_argument("--out", help="root folder for the trials' run directories (default: runs)")
    p.add_argument(
        "--gpus",
        type=int,
        help="GPUs each trial needs (default: 1 when the config trains on a GPU and one is "
        "here, else 0)",
    )
    p.add_argument(
        "--per-gpu", type=int, default=1, help="trials that may share one GPU (default 1)"
    )
    p.add_argument("--priority", type=int, default=0, help="queue priority (higher first)")
    p.add_argument("--json", action="store_true", help="status: JSON for scripts")
    p.add_argument("--save-preset", metavar="NAME", help="best: write presets/NAME.yaml")


def sweep(args: argparse.Namespace) -> int:
    """Dispatch to the subcommand (see the module docstring)."""
    if args.preset == "status":
        _only(args, "status", {"json"})
        if len(args.items) > 1:
            raise UserError("sweep status: expected at most one SWEEP name")
        return status(args.items[0] if args.items else None, as_json=args.json)
    if args.preset == "best":
        _only(args, "best", {"save_preset"})
        if len(args.items) != 1:
            raise UserError("sweep best: expected one SWEEP name (see: tui-trainer sweep status)")
        return best(args.items[0], args.save_preset)
    _only(args, "sweep", _MAKE_OPTIONS)
    return make(args)


_MAKE_OPTIONS = {
    "trials",
    "sampler",
    "seed",
    "parallel",
    "prune",
    "name",
    "out",
    "gpus",
    "per_gpu",
    "priority",
}
_DEFAULTS: dict[str, Any] = {
    "trials": None,
    "sampler": None,
    "seed": 0,
    "parallel": 2,
    "prune": False,
    "name": None,
    "out": None,
    "gpus": None,
    "per_gpu": 1,
    "priority": 0,
    "json": False,
    "save_preset": None,
}


def _only(args: argparse.Namespace, what: str, allowed: set[str]) -> None:
    """Refuse an option that belongs to another subcommand (one line, exit 2)."""
    for key, default in _DEFAULTS.items():
        if key not in allowed and getattr(args, key) != default:
            option = "--" + key.replace("_", "-")
            command = "sweep" if what == "sweep" else f"sweep {what}"
            raise UserError(f"{command}: {option} does not go with it")


def make(args: argparse.Namespace) -> int:
    """`sweep PRESET ITEMS...`: queue the trials, start the scheduler, print the sweep."""
    from tui_trainer.queue.store import QueueStore
    from tui_trainer.sweep.create import Request, create_sweep

    req = Request(
        preset=args.preset,
        items=list(args.items),
        name=args.name,
        out=args.out,
        gpus=args.gpus,
        per_gpu=args.per_gpu,
        priority=args.priority,
        trials=args.trials,
        sampler=args.sampler,
        seed=args.seed,
        parallel=args.parallel,
        prune=args.prune,
    )
    from tui_trainer.commands.queue import gpus_wanted
    from tui_trainer.queue.daemon import ensure_running
    from tui_trainer.queue.paths import QueuePaths, wake

    with QueueStore() as store:
        sweep, jobs = create_sweep(store, req, partial(gpus_wanted, command="sweep"))
        running = ensure_running(store)
        wake(QueuePaths(store.path))
    spec = sweep.spec
    ids = [j.id for j in jobs]
    if len(ids) == 1:
        shown = f"job {ids[0]}"
    elif ids == list(range(ids[0], ids[-1] + 1)):
        shown = f"jobs {ids[0]}-{ids[-1]}"
    else:  # another `queue add` took ids in between
        shown = "jobs " + ", ".join(map(str, ids))
    how = spec["sampler"] + (", pruned by the median" if spec["prune"] else "")
    print(f"sweep {sweep.name}: {spec['trials']} trials ({how}); queued {shown}")
    if spec["sampler"] == "tpe" and len(jobs) < spec["trials"]:
        print(f"  the scheduler asks Optuna for the rest, {spec['parallel']} at a time")
    if not running:
        print("  the scheduler is stopped: tui-trainer queue start")
    print(f"  leaderboard: tui-trainer sweep status {sweep.name}")
    return 0


def status(name: str | None, *, as_json: bool = False) -> int:
    """`sweep status [SWEEP]`: the leaderboard (default: the newest sweep)."""
    from tui_trainer.formatting import metric, text_table
    from tui_trainer.queue.store import QueueStore
    from tui_trainer.sweep.leaderboard import find_sweep, leaderboard

    with QueueStore() as store:
        record = find_sweep(store, name)
        rows = leaderboard(store, record)
    spec = record.spec
    if as_json:
        out = {
            "sweep": record.name,
            "preset": record.preset,
            "sampler": spec["sampler"],
            "trials": spec["trials"],
            "metric": record.monitor,
            "mode": record.mode,
            "rows": [r.to_json() for r in rows],
        }
        print(json.dumps(out, indent=2))
        return 0
    print(
        f"sweep {record.name}: {record.preset}, {spec['sampler']}, {len(rows)} of "
        f"{spec['trials']} trials; ranked by {record.monitor} ({record.mode})"
    )
    table = [
        ["rank", "trial", "job", "state", record.monitor, "best@", "epoch", "overrides", "run"]
    ]
    for r in rows:
        table.append(
            [
                f"{r.rank}{' *' if r.best else ''}" if r.rank else "-",
                str(r.trial) if r.trial is not None else "-",
                str(r.job),
                r.state,
                metric(record.monitor, r.value),
                str(r.best_epoch) if r.best_epoch is not None else "-",
                f"{r.epoch}/{r.epochs}" if r.epochs else "-",
                " ".join(r.overrides),
                r.problem or r.run_dir or "-",
            ]
        )
    print(text_table(table))
    return 0


def best(name: str, save_preset: str | None) -> int:
    """`sweep best SWEEP [--save-preset NAME]`: the winner; with NAME, as a preset."""
    from tui_trainer.queue.store import QueueStore
    from tui_trainer.sweep.best import save_best
    from tui_trainer.sweep.leaderboard import leaderboard

    with QueueStore() as store:
        if save_preset is not None:
            path = save_best(store, name, save_preset)
            print(f"wrote {path}: tui-trainer run {path.stem}")
            return 0
        record = store.sweep(name)
        winner = next((r for r in leaderboard(store, record) if r.best), None)
    if winner is None:
        raise UserError(f"sweep {name}: no trial has a {record.monitor} value yet")
    print(
        f"{record.monitor} {winner.value:.6g} at epoch {winner.best_epoch}: trial {winner.trial} "
        f"(job {winner.job}) {' '.join(winner.overrides)}\n  {winner.run_dir}"
    )
    return 0
