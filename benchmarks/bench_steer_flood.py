"""What a flood of steering requests costs a run: steps/s with none vs one steer per 100 ms.

`python benchmarks/bench_steer_flood.py [--rounds 5] [--epochs 20] [--against OTHER_CHECKOUT]`

Each arm is a separate headless `tui-trainer run quickstart` process (CPU, constant LR); the
benchmark itself is the control client, sending `steer` requests over the run's socket every
`--every` seconds for as long as the run lives:

- `none`: no requests (the baseline);
- `flood`: real changes, `lr=0.011` and `lr=0.01` in turn (each applies and is recorded);
- `noop`: `lr=0.01`, the LR already in force (answered "unchanged", costs the run nothing).

Each run uses one intra-op thread (OMP_NUM_THREADS=1): a tiny model with two threads on a
busy 2-core machine spends its time spinning, not training. Rounds interleave the arms (the
order rotates each round) so drift on a shared machine hits them alike. Reported: the run's
own samples/s (summary.json, training clock) as steps/s, the median per arm and the ratio
to `none`, and how many requests each outcome got (and config.yaml writes). With `--against`
the same three arms also run on another checkout's code, in the same interleaved rounds.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

from benchlib import child_env, tui_trainer

ARMS = ("none", "flood", "noop")


def the_run_dir(out: Path, stop: threading.Event) -> Path | None:
    """The one run directory under `out`, once the run has made it (None if stopped first)."""
    while not stop.is_set():
        found = [p.parent for p in out.glob("*/*/config.yaml")]
        if found:
            return found[0]
        stop.wait(0.02)
    return None


def flood(out: Path, arm: str, every: float, stop: threading.Event, seen: Counter) -> None:
    """Send one steer request every `every` s until `stop` (the arm's changes)."""
    from tui_trainer.remote.client import NotLive, request

    run_dir = the_run_dir(out, stop)
    i = 0
    while run_dir is not None and not stop.is_set():
        change = "lr=0.01" if arm == "noop" or i % 2 else "lr=0.011"
        t0 = time.monotonic()
        try:
            reply = request(run_dir, "steer", timeout=2.0, change=change)
            if reply.get("ok"):
                seen[str(reply.get("state", "ok"))] += 1
            else:
                seen["refused: " + str(reply.get("error", ""))[:40]] += 1
            i += 1
        except (NotLive, OSError):
            seen["not live"] += 1
        stop.wait(max(0.0, every - (time.monotonic() - t0)))


def one_run(
    arm: str, epochs: int, batch: int, every: float, repo: str | None = None
) -> tuple[float, Counter]:
    """Run one arm in its own process (on the code of checkout `repo`, default this one);
    (steps/s, request outcomes)."""
    seen: Counter = Counter()
    with tempfile.TemporaryDirectory(prefix="bench-flood-") as tmp:
        out = Path(tmp)
        argv = tui_trainer(
            "run",
            "quickstart",
            "device=cpu",
            f"epochs={epochs}",
            f"data.batch_size={batch}",
            "scheduler.name=none",
            "scheduler.warmup_epochs=0",
            "optim.lr=0.01",
            "--out",
            str(out),
        )
        env = {**child_env(), "OMP_NUM_THREADS": "1"}  # no thread oversubscription on a busy box
        if repo:
            env["PYTHONPATH"] = os.pathsep.join([repo, env["PYTHONPATH"]])
        log = (Path(tmp) / "run.log").open("w")
        proc = subprocess.Popen(  # not in a checkout: `-m` would import the one it is in
            argv, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=tmp
        )
        stop = threading.Event()
        sender = None
        if arm != "none":
            sender = threading.Thread(target=flood, args=(out, arm, every, stop, seen))
            sender.start()
        try:
            code = proc.wait(timeout=900)
        finally:
            stop.set()
            if sender is not None:
                sender.join()
        log.close()
        if code != 0:
            tail = (Path(tmp) / "run.log").read_text().splitlines()[-5:]
            raise SystemExit(f"{arm}: the run exited with {code}:\n" + "\n".join(tail))
        run_dir = the_run_dir(out, threading.Event())
        assert run_dir is not None
        summary = json.loads((run_dir / "summary.json").read_text())
        config_writes = sum(
            1
            for line in (run_dir / "metrics.jsonl").read_text().splitlines()
            if '"event": "config"' in line
        )
        seen["config.yaml writes"] = config_writes
        return float(summary["samples_per_second"]) / batch, seen


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--every", type=float, default=0.1, help="seconds between requests")
    parser.add_argument(
        "--against", help="another checkout (e.g. a git worktree of an older commit): its arms too"
    )
    args = parser.parse_args()
    arms = [*ARMS, *(f"{arm}@other" for arm in ARMS)] if args.against else list(ARMS)
    rates: dict[str, list[float]] = {arm: [] for arm in arms}
    outcomes: dict[str, Counter] = {arm: Counter() for arm in arms}
    for r in range(args.rounds):
        order = arms[r % len(arms) :] + arms[: r % len(arms)]
        for arm in order:
            kind, _, other = arm.partition("@")
            repo = args.against if other else None
            rate, seen = one_run(kind, args.epochs, args.batch, args.every, repo)
            rates[arm].append(rate)
            outcomes[arm].update(seen)
            print(f"round {r + 1} {arm:11}: {rate:7.1f} steps/s  {dict(seen)}", flush=True)
    print()
    for arm in arms:
        none = "none@other" if arm.endswith("@other") else "none"
        base = statistics.median(rates[none])
        med = statistics.median(rates[arm])
        ratios = [x / y for x, y in zip(rates[arm], rates[none], strict=True)]
        print(
            f"{arm:11}: median {med:7.1f} steps/s  {med / base:.3f}x {none}  "
            f"(per-round {min(ratios):.3f}-{max(ratios):.3f})  requests {dict(outcomes[arm])}"
        )


if __name__ == "__main__":
    main()
