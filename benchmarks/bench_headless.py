"""Headless runner vs a bare hand-written PyTorch loop: training samples/s, same everything.

Same model (small_cnn), data (the fake-benchmark preset's generated images, in memory), batch
size, optimizer, seed and number of steps. Rounds are interleaved (bare, runner, bare, ...) in
one process so both see the same machine state; the ratio of medians is reported.

    python benchmarks/bench_headless.py [--rounds 7] [--epochs 1] [key=value ...]

Target: runner / bare >= 0.98 on CPU.
"""

from __future__ import annotations

import argparse
import io
import statistics
import sys
import tempfile
import time

import torch

from tui_trainer.config import load_config
from tui_trainer.engine.control import Control
from tui_trainer.engine.data import build_data
from tui_trainer.engine.device import resolve_runtime, seed_everything
from tui_trainer.engine.models import build_model
from tui_trainer.session import execute
from tui_trainer.sinks.console import ConsoleSink


def bare_loop(config) -> float:
    """The loop a person would write by hand; returns training samples/s."""
    config, device, _ = resolve_runtime(config)
    seed_everything(config.seed, config.deterministic)
    data = build_data(config, device)
    model = build_model(config.model, data.num_classes, data.in_channels, data.image_size).model
    model.to(device).train()
    opt = torch.optim.SGD(
        model.parameters(),
        lr=config.optim.lr,
        momentum=config.optim.momentum,
        weight_decay=config.optim.weight_decay,
    )
    loss_fn = torch.nn.CrossEntropyLoss()
    samples, seconds = 0, 0.0
    for epoch in range(config.epochs):
        loader = data.make_train(config.data.batch_size)
        loader.set_epoch(epoch)
        t0 = time.perf_counter()
        for x, y in loader:
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(model(x), y)
            loss.backward()
            opt.step()
            samples += y.shape[0]
        if device.type == "cuda":
            torch.cuda.synchronize()
        seconds += time.perf_counter() - t0
    return samples / seconds


def runner(config) -> float:
    """The real headless path (console sink in plain-line mode, run directory written)."""
    with tempfile.TemporaryDirectory() as out:
        config = config.model_copy(update={"out": out})
        sink = ConsoleSink(io.StringIO(), tty=False)
        finished = execute(config, "bench", sinks=[sink], control=Control())
    return finished.summary["samples_per_second"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("overrides", nargs="*")
    args = parser.parse_args()
    config, _ = load_config(
        "fake-benchmark", [f"epochs={args.epochs}", "scheduler.name=none", *args.overrides]
    )
    bare_loop(config)  # warm-up: allocator, kernels, imports
    runner(config)
    bare, ours = [], []
    for i in range(args.rounds):
        bare.append(bare_loop(config))
        ours.append(runner(config))
        print(f"round {i + 1}: bare {bare[-1]:,.0f}/s  runner {ours[-1]:,.0f}/s", flush=True)
    mb, mo = statistics.median(bare), statistics.median(ours)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, device {config.device}")
    print(f"median samples/s: bare {mb:,.0f}  runner {mo:,.0f}  ratio {mo / mb:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
