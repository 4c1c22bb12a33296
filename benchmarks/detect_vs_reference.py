"""tui-trainer's detection loop vs torchvision's detection reference loop: images/s and mAP.

Both sides train `fcos_tiny` from the same initial weights (seeded, then built by the same
`build_model`; the reference prints the weights' checksum) on the same generated shapes
(`generate_shapes`, same seed, size and count, letterboxed, no augmentation on either side) with
torchvision's reference recipe: SGD (lr 0.02, momentum 0.9, weight decay 1e-4), batch 16, a
linear warm-up from 1/1000 over the first epoch's steps but one (`LinearLR(1/1000,
min(1000, steps - 1))`), then `MultiStepLR([16, 22])` (no decay within a short run).

- ours: `tui-trainer run quickstart-detect` headless with those overrides (warm-up
  `scheduler.warmup_epochs = (steps - 1) / steps` from 1/1000: the same LR at every step);
  training images/s is its summary.json's `samples_per_second` (training time only), mAP the
  last epoch's `val_map` / `val_map50` (faster-coco-eval).
- reference: `detect_reference_loop.py`, a transcription of `references/detection/engine.py`'s
  `train_one_epoch` / `evaluate` (see its docstring for the upstream commits); images/s over
  `train_one_epoch`'s wall time, mAP from pycocotools after the last epoch.

A second figure, steadier on a shared machine than wall time: CPU milliseconds per training
image, the process's CPU time (all threads) over the same training spans (ours: around
`Trainer.train_epoch`, wrapped in the child, the engine unchanged; the reference: around
`train_one_epoch`).

Each run is its own fresh process (stdout piped: both headless), rounds interleaved, the order
alternating (R O, O R, ...). Round i uses seed i on both sides (data, initial weights, batch
order): mAP is compared round by round, and its spread over the seeds is the noise it is judged
against. Batches are drawn in a different order on each side (our seeded sampler vs
`RandomSampler`), so even one round's two mAPs differ by seed-level noise.

    python benchmarks/detect_vs_reference.py [--rounds 5] [--epochs 3] [--n 800] [--threads 1]

Both sides run with one torch thread by default (`--threads 0`: torch's default, one per
core): on a shared 2-core machine two OpenMP threads per process spin against the other
processes and made both sides 10-30x slower and their ratio chaotic (measured: see RESULTS.md).

Target (issue 24): images/s ours / reference >= 1.0 with the same mAP within noise.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
from pathlib import Path

import benchlib

BATCH, VAL_SPLIT, SIZE = 16, 0.2, 64


def train_count(n: int) -> int:
    """Training images of `generate_shapes(n, ..., val_split=0.2)` (the first 20% are val)."""
    return n - round(n * VAL_SPLIT)


def ours(epochs: int, n: int, seed: int, skip_noop: bool = False) -> dict[str, float]:
    """`tui-trainer run quickstart-detect`, the reference recipe, headless, in its own process."""
    steps = train_count(n) // BATCH
    overrides = [
        f"epochs={epochs}",
        f"seed={seed}",
        f"data.num_samples={n}",
        f"data.batch_size={BATCH}",
        f"data.image_size={SIZE}",
        "data.augment.hflip=false",
        "data.augment.scale=0",
        "data.augment.mosaic=0",
        "data.num_workers=0",  # in memory, in the main process (the reference: -j 0)
        "optim.name=sgd",
        "optim.lr=0.02",
        "optim.momentum=0.9",
        "optim.weight_decay=1e-4",
        "scheduler.name=multistep",
        "scheduler.milestones=[16,22]",
        f"scheduler.warmup_epochs={(steps - 1) / steps!r}",
        "scheduler.warmup_start_factor=0.001",
        "device=cpu",
    ]
    with tempfile.TemporaryDirectory() as out:
        cpu = Path(out) / "cpu.json"
        argv = [sys.executable, str(Path(__file__).resolve()), "--ours-worker", str(cpu)]
        argv += ["--skip-noop-augment"] if skip_noop else []
        argv += ["run", "quickstart-detect", *overrides, f"--out={out}/runs"]
        wall, _ = benchlib.run_process(argv, timeout=900)
        summary = benchlib.read_summary(Path(out) / "runs")
        final = summary["final"]
        images = epochs * steps * BATCH
        return {
            "ips": float(summary["samples_per_second"]),
            "cpu_ms": 1000 * json.loads(cpu.read_text())["cpu_seconds"] / images,
            "map": float(final["val_map"]),
            "map50": float(final["val_map50"]),
            "wall": wall,
        }


def reference(epochs: int, n: int, seed: int) -> dict[str, float]:
    """`detect_reference_loop.py` in its own process."""
    with tempfile.TemporaryDirectory() as tmp:
        result = Path(tmp) / "result.json"
        argv = [sys.executable, str(benchlib.HERE / "detect_reference_loop.py")]
        argv += ["--out", str(result), "--epochs", str(epochs), "--n", str(n)]
        argv += ["--batch-size", str(BATCH), "--size", str(SIZE), "--seed", str(seed)]
        wall, _ = benchlib.run_process(argv, timeout=900)
        r = json.loads(result.read_text())
        return {
            "ips": float(r["images_per_second"]),
            "cpu_ms": 1000 * float(r["cpu_seconds"]) / float(r["train_images"]),
            "map": float(r["val_map"]),
            "map50": float(r["val_map50"]),
            "wall": wall,
        }


def skip_noop_augmenter() -> None:
    """What-if (`--what-if`): `DetectionSamples` without its `Augmenter` when the augmentation
    enables nothing (no flip, scale, colour or mosaic). The v2 pipeline then is only
    ClampBoundingBoxes + SanitizeBoundingBoxes, no-ops on letterboxed in-image boxes, costing
    about 1 ms per sample; this patches the class in the child, the engine file is unchanged."""
    from tui_trainer.engine.tasks.detection.loader import DetectionSamples

    init = DetectionSamples.__init__

    def patched(self: DetectionSamples, samples: list, image_size: int, augment: object) -> None:
        init(self, samples, image_size, augment)  # type: ignore[arg-type]
        a = self.augment
        if a is not None and not (a.hflip or a.scale > 0 or a.color > 0 or a.mosaic > 0):
            self.augmenter = None

    DetectionSamples.__init__ = patched  # type: ignore[method-assign]


def ours_worker(cpu_file: Path, cli_args: list[str], skip_noop: bool) -> int:
    """`tui-trainer CLI_ARGS` in this process, with the CPU time of `Trainer.train_epoch` (the
    span tui-trainer's training clock covers: no validation) written to `cpu_file` after each
    epoch. The engine is wrapped, not changed."""
    import time

    if skip_noop:
        skip_noop_augmenter()

    from tui_trainer.cli import main as cli_main
    from tui_trainer.engine.loop import Trainer

    train_epoch = Trainer.train_epoch
    spent = [0.0]

    def timed(self: Trainer, epoch: int) -> dict[str, float]:
        c0 = time.process_time()
        try:
            return train_epoch(self, epoch)
        finally:
            spent[0] += time.process_time() - c0
            cpu_file.write_text(json.dumps({"cpu_seconds": spent[0]}))

    Trainer.train_epoch = timed  # type: ignore[method-assign]
    sys.argv = ["tui-trainer", *cli_args]
    return int(cli_main() or 0)


def spread(values: list[float]) -> str:
    """median [min-max] of `values`."""
    return f"{statistics.median(values):.3f} [{min(values):.3f}-{max(values):.3f}]"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--n", type=int, default=800, help="generated images, train + val")
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch threads of both sides (OMP_NUM_THREADS; 0: torch's default)",
    )
    parser.add_argument(
        "--what-if",
        action="store_true",
        help="a third arm: ours with the no-op augmenter skipped (see skip_noop_augmenter)",
    )
    parser.add_argument("--ours-worker", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--skip-noop-augment", action="store_true", help=argparse.SUPPRESS)
    args, rest = parser.parse_known_args()
    if args.ours_worker:
        return ours_worker(args.ours_worker, rest, args.skip_noop_augment)
    if rest:
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    if train_count(args.n) % BATCH:
        parser.error(f"--n: {train_count(args.n)} training images is not a multiple of {BATCH}")
    if args.threads:
        os.environ["OMP_NUM_THREADS"] = str(args.threads)  # the children inherit it
    threads = os.environ.get("OMP_NUM_THREADS", "torch's default")
    print(f"machine: {benchlib.machine()}; threads per side: {threads}", flush=True)
    arms = {"reference": reference, "ours": ours}
    if args.what_if:
        arms["what-if"] = lambda e, n, seed: ours(e, n, seed, skip_noop=True)
    runs: dict[str, list[dict[str, float]]] = {name: [] for name in arms}
    loads: list[float] = []
    for i in range(args.rounds):
        order = list(arms) if i % 2 == 0 else list(reversed(arms))
        for name in order:
            runs[name].append(arms[name](args.epochs, args.n, i))
        loads.append(os.getloadavg()[0])
        r = runs["reference"][-1]
        line = [f"round {i + 1} ({' then '.join(order)}, load {loads[-1]:.1f}): reference "]
        line.append(f"{r['ips']:.1f} images/s, {r['cpu_ms']:.2f} CPU ms/image")
        line.append(f", mAP {r['map']:.3f}, mAP50 {r['map50']:.3f}")
        for name in list(arms)[1:]:
            o = runs[name][-1]
            line.append(f"; {name} {o['ips']:.1f} ({o['ips'] / r['ips']:.3f}x), ")
            line.append(f"{o['cpu_ms']:.2f} ({o['cpu_ms'] / r['cpu_ms']:.3f}x)")
            line.append(f", mAP {o['map']:.3f}, mAP50 {o['map50']:.3f}")
        print("".join(line), flush=True)
    print(
        f"{args.rounds} rounds, {args.epochs} epochs of {train_count(args.n)} images, batch {BATCH}"
    )
    ref = runs["reference"]
    for name in list(arms)[1:]:
        our = runs[name]
        print(f"--- {name} / reference")
        benchlib.report(
            "reference", [r["ips"] for r in ref], name, [o["ips"] for o in our], "training images/s"
        )
        per_round = [o["ips"] / r["ips"] for r, o in zip(ref, our, strict=True)]
        print(f"per-round images/s ratio: {spread(per_round)}")
        benchlib.report(
            "reference",
            [r["cpu_ms"] for r in ref],
            name,
            [o["cpu_ms"] for o in our],
            "CPU ms/image",
        )
        per_round = [o["cpu_ms"] / r["cpu_ms"] for r, o in zip(ref, our, strict=True)]
        print(f"per-round CPU ms/image ratio (lower is cheaper): {spread(per_round)}")
    for key in ("map", "map50"):
        print(
            f"{key}: "
            + "  ".join(f"{name} {spread([x[key] for x in runs[name]])}" for name in arms)
        )
    print(f"load average (1 min) after each round: {', '.join(f'{x:.1f}' for x in loads)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
