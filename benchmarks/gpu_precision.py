"""fp32 vs fp16 vs bf16 (then channels_last, then torch.compile) on one CUDA GPU.

ResNet-18 at 224×224 on generated data that already sits on the GPU (no loader cost), SGD with
momentum, the engine's own autocast, GradScaler, channels_last and compile wrappers. For each
variant: training samples/s (median over interleaved rounds of timed steps after a warm-up,
timed with CUDA events) and peak memory (torch.cuda.max_memory_allocated over one round).
Compile time is the first compiled step, reported separately from its steady-state speed.

    python benchmarks/gpu_precision.py [--batch 128] [--steps 20] [--rounds 3] [--no-compile]
    python benchmarks/gpu_precision.py --dry-run      # check arguments and imports only

Targets (printed PASS/FAIL): fp16 >= 1.8x fp32 samples/s and <= 0.6x fp32 peak memory.
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
from dataclasses import dataclass

import torch

VARIANTS = {
    "fp32": ("fp32", False),
    "fp16": ("fp16", False),
    "bf16": ("bf16", False),
    "fp16+channels_last": ("fp16", True),
    "bf16+channels_last": ("bf16", True),
}


@dataclass
class Bench:
    """One variant's model, optimizer, scaler and a generated batch on the GPU."""

    name: str
    precision: str
    channels_last: bool
    compile: bool = False

    def setup(self, batch: int, size: int, device: torch.device) -> None:
        from torchvision.models import resnet18

        from tui_trainer.engine.speed import CompiledNet, batch_memory_format, to_channels_last

        torch.manual_seed(0)
        model = resnet18(num_classes=1000).to(device)
        if self.channels_last:
            model = to_channels_last(model)
        self.model = model
        self.net = CompiledNet(model, enabled=self.compile)
        self.opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.precision == "fp16")
        x = torch.randn(batch, 3, size, size, device=device)
        self.x = batch_memory_format(x, self.channels_last)
        self.y = torch.randint(0, 1000, (batch,), device=device)

    def step(self) -> None:
        from tui_trainer.engine.device import autocast

        def fwd_bwd() -> None:
            with autocast(self.x.device, self.precision):
                loss = torch.nn.functional.cross_entropy(self.net(self.x), self.y)
            self.scaler.scale(loss).backward()

        self.net.guarded(fwd_bwd, lambda: self.opt.zero_grad(set_to_none=True))
        self.scaler.step(self.opt)
        self.scaler.update()
        self.opt.zero_grad(set_to_none=True)

    def timed(self, steps: int) -> float:
        """Samples/s over `steps` steps (timed with CUDA events on a GPU)."""
        if self.x.device.type != "cuda":
            t0 = time.perf_counter()
            for _ in range(steps):
                self.step()
            return steps * self.x.shape[0] / (time.perf_counter() - t0)
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        for _ in range(steps):
            self.step()
        end.record()
        end.synchronize()
        return steps * self.x.shape[0] / (start.elapsed_time(end) / 1000)

    def teardown(self) -> None:
        del self.model, self.net, self.opt, self.scaler, self.x, self.y
        if torch.cuda.is_available():
            torch.cuda.empty_cache()


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _reset_peak(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)


def _peak(device: torch.device) -> float:
    """Peak MiB allocated since the last reset (NaN off CUDA)."""
    return torch.cuda.max_memory_allocated(device) / 2**20 if device.type == "cuda" else math.nan


def peak_memory(bench: Bench, args: argparse.Namespace, device: torch.device) -> float:
    """Peak MiB allocated during setup plus a few steps (model, optimizer, activations)."""
    _reset_peak(device)
    bench.setup(args.batch, args.size, device)
    for _ in range(3):
        bench.step()
    _sync(device)
    peak = _peak(device)
    bench.teardown()
    return peak


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--size", type=int, default=224)
    p.add_argument("--steps", type=int, default=20, help="timed steps per round")
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--no-compile", action="store_true", help="skip the torch.compile variant")
    p.add_argument("--dry-run", action="store_true", help="check arguments and imports only")
    p.add_argument("--device", default="cuda", help="cuda (cpu only to smoke-test this script)")
    args = p.parse_args(argv)
    if min(args.batch, args.size, args.steps, args.rounds) < 1 or args.warmup < 0:
        p.error("--batch, --size, --steps and --rounds must be >= 1, --warmup >= 0")
    import torchvision  # noqa: F401  (the model comes from there)

    import tui_trainer.engine.speed  # noqa: F401

    plan = [*VARIANTS, *([] if args.no_compile else ["fp16+channels_last+compile"])]
    if args.dry_run:
        print(
            f"gpu_precision dry run: resnet18 {args.size}px batch {args.batch}, {args.rounds} x "
            f"{args.steps} steps, variants: {', '.join(plan)}"
        )
        return 0
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        print("gpu_precision: CUDA is not available", file=sys.stderr)
        return 1
    torch.backends.cudnn.benchmark = True
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu (smoke test)"
    print(
        f"device: {name}, torch {torch.__version__}, CUDA {torch.version.cuda}, "
        f"cuDNN {torch.backends.cudnn.version()}"
    )
    print(
        f"resnet18 {args.size}x{args.size}, batch {args.batch}, SGD momentum, generated data on "
        f"the GPU; {args.rounds} interleaved rounds x {args.steps} steps after {args.warmup} "
        "warm-up steps"
    )
    benches = {name: Bench(name, prec, cl) for name, (prec, cl) in VARIANTS.items()}
    memory = {name: peak_memory(b, args, device) for name, b in benches.items()}
    speed: dict[str, list[float]] = {name: [] for name in benches}
    for _ in range(args.rounds):
        for name, bench in benches.items():  # interleaved: every variant once per round
            bench.setup(args.batch, args.size, device)
            for _ in range(args.warmup):
                bench.step()
            speed[name].append(bench.timed(args.steps))
            bench.teardown()
    med = {name: statistics.median(v) for name, v in speed.items()}
    base_s, base_m = med["fp32"], memory["fp32"]
    print(f"\n{'variant':<28}{'samples/s':>11}{'x fp32':>8}{'peak MiB':>10}{'x fp32':>8}")
    for name in benches:
        print(
            f"{name:<28}{med[name]:>11.0f}{med[name] / base_s:>8.2f}{memory[name]:>10.0f}"
            f"{memory[name] / base_m:>8.2f}"
        )
    if not args.no_compile:
        bench = Bench("compile", "fp16", True, compile=True)
        _reset_peak(device)
        bench.setup(args.batch, args.size, device)
        t0 = time.perf_counter()
        bench.step()
        _sync(device)
        compile_s = time.perf_counter() - t0
        for _ in range(args.warmup):
            bench.step()
        rates = [bench.timed(args.steps) for _ in range(args.rounds)]
        peak = _peak(device)
        state = "compiled" if bench.net.active else f"EAGER ({bench.net.fallback})"
        rate = statistics.median(rates)
        print(
            f"{'fp16+channels_last+compile':<28}{rate:>11.0f}{rate / base_s:>8.2f}{peak:>10.0f}"
            f"{peak / base_m:>8.2f}   [{state}; first step incl. compile {compile_s:.1f} s]"
        )
        bench.teardown()
    fp16_speed, fp16_mem = med["fp16"] / base_s, memory["fp16"] / base_m
    ok_s, ok_m = fp16_speed >= 1.8, fp16_mem <= 0.6
    print(f"\nTARGET fp16 >= 1.8x fp32 samples/s: {fp16_speed:.2f}x {'PASS' if ok_s else 'FAIL'}")
    print(f"TARGET fp16 <= 0.6x fp32 peak memory: {fp16_mem:.2f}x {'PASS' if ok_m else 'FAIL'}")
    return 0 if ok_s and ok_m else 3


if __name__ == "__main__":
    sys.exit(main())
