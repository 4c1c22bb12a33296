"""What telemetry costs: time per sample, and training throughput with the sampler thread on vs off.

    python benchmarks/bench_telemetry.py [--rounds 9] [--steps 60] [--budget 45] [--threads N]

Part 1 times each reader (host via psutil, GPUs via NVML, or via the test fake of two GPUs when
this machine has no NVIDIA driver) and a full ``Sampler.sample_now()``. Part 2 trains a small CNN
on CPU with pre-generated tensors, in interleaved rounds: sampler off, on at the default 1 s, and
on at 0.1 s (ten times the default, to make any cost visible). It prints the median samples/s and,
for each mode, the median over rounds of its ratio to the "off" run of the same round, per wall
second and per CPU second of the process (steadier when other programs load the machine). About
half a minute on a 2-core machine; ``--budget`` caps the rounds when the machine is slow.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from torch import nn

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from support.fake_nvml import FakeNvml, two_gpus  # noqa: E402

from tui_trainer.telemetry.gpu import NvmlReader, NvmlSession  # noqa: E402
from tui_trainer.telemetry.host import HostReader  # noqa: E402
from tui_trainer.telemetry.sampler import Sampler  # noqa: E402


def time_per_call(fn: Callable[[], object], repeats: int) -> tuple[float, float]:
    """Median and 90th percentile of ``fn()`` wall time, in milliseconds."""
    fn()  # warm up (first NVML/psutil call pays one-time costs)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    times.sort()
    return statistics.median(times), times[int(0.9 * (len(times) - 1))]


def gpu_readers() -> tuple[NvmlReader, str, NvmlReader | None]:
    """(reader, its description, the no-driver reader when there is no driver).

    The real NVML reader when a driver answers; otherwise the fake (two GPUs) is installed for
    the rest of the run, and the real reader, which then only returns its cached reason, is
    returned as the third item so its cost can be shown too.
    """
    real = NvmlReader(session=NvmlSession())
    if real.read().available:
        return real, "real NVML", None
    FakeNvml(two_gpus()).install(pytest.MonkeyPatch())
    return NvmlReader(session=NvmlSession()), "fake NVML, 2 GPUs (no driver here)", real


def make_model() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(3, 16, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(32 * 8 * 8, 10),
    )


def train_round(
    model: nn.Module,
    opt: torch.optim.Optimizer,
    data: torch.Tensor,
    labels: torch.Tensor,
    steps: int,
) -> tuple[float, float]:
    """Train ``steps`` batches; return samples per wall second and per CPU second (process)."""
    loss_fn = nn.CrossEntropyLoss()
    batches = data.shape[0]
    cpu_start = time.process_time()
    start = time.perf_counter()
    for step in range(steps):
        i = step % batches
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(model(data[i]), labels[i])
        loss.backward()
        opt.step()
    elapsed = time.perf_counter() - start
    cpu = time.process_time() - cpu_start
    samples = steps * data.shape[1]
    return samples / elapsed, samples / cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--steps", type=int, default=60, help="batches per round")
    parser.add_argument("--budget", type=float, default=45.0, help="stop adding rounds after (s)")
    parser.add_argument("--repeats", type=int, default=200, help="calls timed per reader")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch default)")
    args = parser.parse_args()
    began = time.perf_counter()
    if args.threads:
        torch.set_num_threads(args.threads)

    gpu_reader, gpu_kind, no_driver = gpu_readers()
    sampler = Sampler(gpu_reader=gpu_reader, host_reader=HostReader())
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; GPUs: {gpu_kind}")
    print("\nTime per sample (ms)              median     p90")
    timed: list[tuple[str, Callable[[], object]]] = [
        ("host (psutil)", HostReader().read),
        (f"GPUs ({gpu_kind.split(',')[0]})", gpu_reader.read),
    ]
    if no_driver is not None:
        timed.append(("GPUs (no driver: the reason)", no_driver.read))
    timed.append(("full Sampler.sample_now()", sampler.sample_now))
    for label, fn in timed:
        med, p90 = time_per_call(fn, args.repeats)
        print(f"  {label:<32}{med:7.3f} {p90:7.3f}")

    torch.manual_seed(0)
    data = torch.randn(16, 64, 3, 32, 32)
    labels = torch.randint(0, 10, (16, 64))
    model = make_model()
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    train_round(model, opt, data, labels, 20)  # warm up
    steps = args.steps

    modes: dict[str, float | None] = {"off": None, "on, 1 s": 1.0, "on, 0.1 s": 0.1}
    results: dict[str, list[float]] = {mode: [] for mode in modes}
    per_cpu: dict[str, list[float]] = {mode: [] for mode in modes}
    samples_taken: dict[str, int] = dict.fromkeys(modes, 0)
    names = list(modes)
    rounds = 0
    for r in range(args.rounds):
        if r >= 3 and time.perf_counter() - began > args.budget:
            break  # a loaded machine: keep the run short, medians of what we have
        rounds += 1
        order = names[r % len(names) :] + names[: r % len(names)]  # rotate: no mode always first
        for mode in order:
            interval = modes[mode]
            bg = None
            if interval is not None:
                bg = Sampler(interval=interval, gpu_reader=gpu_reader, host_reader=HostReader())
                bg.start()
            wall, cpu = train_round(model, opt, data, labels, steps)
            results[mode].append(wall)
            per_cpu[mode].append(cpu)
            if bg is not None:
                bg.stop()
                latest = bg.latest()
                samples_taken[mode] += latest.sequence if latest else 0

    def paired(values: dict[str, list[float]], mode: str) -> float:
        """Median over rounds of (this mode / "off" in the same round): drift cancels out."""
        ratios = [on / off for on, off in zip(values[mode], values["off"], strict=True)]
        return statistics.median(ratios)

    base = statistics.median(results["off"])
    print(
        f"\nSmall CNN on CPU, batch 64, {steps} steps x {rounds} interleaved rounds,"
        f" {torch.get_num_threads()} torch threads"
    )
    print("  sampler      samples/s   vs off (wall)   vs off (per CPU-s)   samples taken")
    for mode in names:
        med = statistics.median(results[mode])
        print(
            f"  {mode:<12}{med:10.0f}   {paired(results, mode):13.3f}"
            f"   {paired(per_cpu, mode):18.3f}   {samples_taken[mode]:>13}"
        )
    spread = (max(results["off"]) - min(results["off"])) / base
    print(f"  ('off' varied by {spread:.1%} between rounds: differences below that are noise)")
    print(f"\nTotal {time.perf_counter() - began:.1f} s")


if __name__ == "__main__":
    main()
