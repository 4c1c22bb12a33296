"""torch.compile vs eager on CPU: compile time, steady-state training speed, same losses.

The engine's `CompiledNet` (what `compile: true` uses) around small_cnn on generated 32×32
batches, SGD with momentum. Two copies of the same initial weights train on the same batches,
one eager and one compiled; the first compiled step (which compiles) is timed separately, then
timed rounds alternate eager / compiled so both see the same machine state. Reports the ratio
of medians and the largest loss difference over the compared steps.

    python benchmarks/bench_compile.py [--rounds 5] [--steps 30] [--batch 64] [--model small_cnn]
"""

from __future__ import annotations

import argparse
import copy
import statistics
import sys
import time

import torch
from torch import nn


def make_model(name: str) -> nn.Module:
    from tui_trainer.engine.tasks.classification.models import SmallCNN

    if name == "small_cnn":
        return SmallCNN(10, 3, 32)
    import torchvision

    return torchvision.models.get_model(name, num_classes=10)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--steps", type=int, default=30, help="timed steps per round")
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--model", default="small_cnn", help="small_cnn or a torchvision model name")
    p.add_argument("--mode", default="default", help="torch.compile mode")
    args = p.parse_args(argv)
    from tui_trainer.engine.speed import CompiledNet

    torch.manual_seed(0)
    eager = make_model(args.model)
    compiled_model = copy.deepcopy(eager)
    nets = {
        "eager": CompiledNet(eager, enabled=False),
        "compiled": CompiledNet(compiled_model, enabled=True, mode=args.mode),
    }
    opts = {
        k: torch.optim.SGD(n.inner.parameters(), lr=0.01, momentum=0.9) for k, n in nets.items()
    }
    gen = torch.Generator().manual_seed(1)
    batches = [
        (
            torch.randn(args.batch, 3, 32, 32, generator=gen),
            torch.randint(0, 10, (args.batch,), generator=gen),
        )
        for _ in range(8)
    ]
    losses: dict[str, list[float]] = {k: [] for k in nets}

    def step(kind: str, i: int, record: bool = False) -> None:
        net, opt = nets[kind], opts[kind]
        x, y = batches[i % len(batches)]
        out: list[torch.Tensor] = []

        def fwd_bwd() -> None:
            loss = nn.functional.cross_entropy(net(x), y)
            loss.backward()
            out.append(loss.detach())

        net.guarded(fwd_bwd, lambda: opt.zero_grad(set_to_none=True))
        opt.step()
        opt.zero_grad(set_to_none=True)
        if record:
            losses[kind].append(float(out[-1]))

    t0 = time.perf_counter()
    step("compiled", 0, record=True)
    compile_s = time.perf_counter() - t0
    step("eager", 0, record=True)
    for i in range(1, 20):  # compare the loss trajectories over the first 20 steps
        step("eager", i, record=True)
        step("compiled", i, record=True)
    diff = max(abs(a - b) for a, b in zip(losses["eager"], losses["compiled"], strict=True))
    rates: dict[str, list[float]] = {k: [] for k in nets}
    for _ in range(args.rounds):
        for kind in nets:
            t = time.perf_counter()
            for i in range(args.steps):
                step(kind, i)
            rates[kind].append(args.steps * args.batch / (time.perf_counter() - t))
    med = {k: statistics.median(v) for k, v in rates.items()}
    state = "compiled" if nets["compiled"].active else f"EAGER ({nets['compiled'].fallback})"
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, {args.model} 32px, "
        f"batch {args.batch}, mode {args.mode}: {state}"
    )
    print(f"first compiled step (compiles): {compile_s:.1f} s")
    for kind in nets:
        rounds = ", ".join(f"{r:.0f}" for r in rates[kind])
        print(f"{kind:<9}{med[kind]:>8.0f} samples/s  (rounds: {rounds})")
    print(f"compiled / eager: {med['compiled'] / med['eager']:.2f}x")
    print(
        f"largest loss difference over 20 steps: {diff:.2e} (loss {losses['eager'][0]:.4f} → "
        f"{losses['eager'][-1]:.4f})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
