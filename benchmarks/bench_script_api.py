"""What the script API costs a training loop: a bare loop vs the same loop with init/iterate/log.

    python benchmarks/bench_script_api.py [--rounds 5] [--epochs 2] [--threads 1]

Both sides are `benchlib.bare_training`'s loop (the CIFAR-10 tutorial CNN on the
fake-benchmark preset's images, batch 128, SGD lr 0.02 momentum 0.9, a seeded permutation per
epoch). The API side is the same loop as a user writes it with the console:
`run = tui_trainer.init(...)`, `for epoch in run.epochs(E)`, `for start in run.iterate(...)`,
`run.log(loss=loss)` (the loss tensor, no `.item()`), `run.finish()`: run directory, control
socket, metrics.jsonl writer and signal handlers all live. Each side runs in a
fresh process, rounds interleaved with the order alternating; samples/s is the training epochs'
wall time on both sides (imports, data generation, `init` and `finish` excluded, `init`'s own
time reported apart), and the process's CPU time per sample over the same spans (all threads,
so the API's socket server counts; less sensitive to a busy machine).
Per-step overhead two ways: (API seconds - bare seconds) / steps of the
medians (noisy: the difference of two noisy numbers), and directly in the API process after
training: `for _ in run.iterate(range(20000)): run.log(loss=t)` minus an empty loop.

Target: API samples/s >= 0.99x the bare loop's.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import benchlib


class Clocks:
    """A `clock` for `bare_training`'s epoch spans that also sums the process's CPU time
    (all threads: the API's socket server and sampler included) over the same spans."""

    def __init__(self) -> None:
        self.cpu = 0.0
        self._start: float | None = None

    def __call__(self) -> float:
        now = time.process_time()
        if self._start is None:
            self._start = now
        else:
            self.cpu += now - self._start
            self._start = None
        return time.perf_counter()


def api_training(epochs: int, out: Path, clock: Clocks) -> tuple[int, float, float, float]:
    """The bare loop with the script API: (samples, training seconds, init seconds, the API's
    own seconds per step measured directly: `iterate` + `log` around an empty step)."""
    import torch
    from tutorial_net import Net

    import tui_trainer

    train_x, train_y, _, _ = benchlib.fake_tensors()
    torch.manual_seed(benchlib.SEED)
    model = Net(benchlib.NUM_CLASSES).train()
    opt = torch.optim.SGD(model.parameters(), lr=benchlib.LR, momentum=benchlib.MOMENTUM)
    loss_fn = torch.nn.CrossEntropyLoss()
    n, b = train_y.shape[0], benchlib.BATCH
    t0 = time.perf_counter()
    run = tui_trainer.init(name="bench", config={"lr": benchlib.LR, "batch": b}, out=str(out))
    init_seconds = time.perf_counter() - t0
    run.track_optimizer(opt)
    samples, seconds = 0, 0.0
    for epoch in run.epochs(epochs):
        t0 = clock()
        order = torch.randperm(n, generator=torch.Generator().manual_seed(epoch))
        for start in run.iterate(range(0, n, b)):
            idx = order[start : start + b]
            x, y = train_x[idx], train_y[idx]
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(model(x), y)
            loss.backward()
            opt.step()
            run.log(loss=loss.detach())
            samples += y.shape[0]
        seconds += clock() - t0
    steps, loss = 20000, torch.tensor(1.0)
    t0 = time.perf_counter()
    for _ in range(steps):
        pass
    empty = time.perf_counter() - t0
    t0 = time.perf_counter()
    for _ in run.iterate(range(steps)):
        run.log(loss=loss)
    direct = (time.perf_counter() - t0 - empty) / steps
    run.finish()
    return samples, seconds, init_seconds, direct


def worker(side: str, epochs: int, threads: int, result: Path) -> None:
    """One side in this process; writes {"samples", "seconds", "init"} to `result`."""
    import torch

    torch.set_num_threads(threads)
    clock = Clocks()
    if side == "bare":
        samples, seconds = benchlib.bare_training(epochs, clock)
        init = direct = 0.0
    else:
        samples, seconds, init, direct = api_training(epochs, result.parent / "runs", clock)
    fields = {"samples": samples, "seconds": seconds, "cpu": clock.cpu}
    result.write_text(json.dumps({**fields, "init": init, "direct": direct}))


def one(side: str, epochs: int, threads: int) -> dict[str, float]:
    """`side` in a fresh process: its result."""
    with tempfile.TemporaryDirectory() as tmp:
        result = Path(tmp) / "result.json"
        argv = [sys.executable, str(Path(__file__).resolve()), "--worker", side, str(result)]
        benchlib.run_process([*argv, "--epochs", str(epochs), "--threads", str(threads)])
        return json.loads(result.read_text())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--worker", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.worker[0], args.epochs, args.threads, Path(args.worker[1]))
        return 0
    print(f"machine: {benchlib.machine()}", flush=True)
    runs: dict[str, list[dict[str, float]]] = {"bare": [], "api": []}
    for i in range(args.rounds):
        for side in ("bare", "api") if i % 2 == 0 else ("api", "bare"):
            runs[side].append(one(side, args.epochs, args.threads))
        bare, api = runs["bare"][-1], runs["api"][-1]
        b_sps, a_sps = bare["samples"] / bare["seconds"], api["samples"] / api["seconds"]
        b_cpu, a_cpu = bare["cpu"] / bare["samples"], api["cpu"] / api["samples"]
        print(
            f"round {i + 1}: samples/s bare {b_sps:,.0f} api {a_sps:,.0f} "
            f"({a_sps / b_sps:.3f}); CPU µs/sample bare {b_cpu * 1e6:.1f} api "
            f"{a_cpu * 1e6:.1f} ({a_cpu / b_cpu:.3f}); init {api['init'] * 1e3:.0f} ms",
            flush=True,
        )
    steps = -(-runs["bare"][0]["samples"] // benchlib.BATCH)
    bare_sps = [r["samples"] / r["seconds"] for r in runs["bare"]]
    api_sps = [r["samples"] / r["seconds"] for r in runs["api"]]
    ratios = [a / b for a, b in zip(api_sps, bare_sps, strict=True)]
    print(f"{args.rounds} rounds, {args.epochs} epochs ({steps} steps), {args.threads} thread(s)")
    benchlib.report("bare", bare_sps, "api", api_sps, "training samples/s")
    print(f"per-round ratio: {min(ratios):.3f}-{max(ratios):.3f}")
    cpu = {k: [r["cpu"] / r["samples"] * 1e6 for r in v] for k, v in runs.items()}
    benchlib.report("bare", cpu["bare"], "api", cpu["api"], "CPU µs per sample (all threads)")
    bare_s = statistics.median(r["seconds"] for r in runs["bare"])
    api_s = statistics.median(r["seconds"] for r in runs["api"])
    bare_step = bare_s / steps
    print(
        f"per step: bare {bare_step * 1e3:.2f} ms, API overhead "
        f"{(api_s - bare_s) / steps * 1e6:+.0f} µs (medians); "
        f"init {statistics.median(r['init'] for r in runs['api']) * 1e3:.0f} ms"
    )
    direct = sorted(r["direct"] * 1e6 for r in runs["api"])
    print(
        f"API per step measured directly (iterate + log of a tensor around an empty step, "
        f"20,000 steps): median {statistics.median(direct):.1f} µs "
        f"(rounds {direct[0]:.1f}-{direct[-1]:.1f})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
