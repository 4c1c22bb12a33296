"""A folder of JPEGs: tui-trainer vs the loop a person writes with torchvision's ImageFolder.

A folder of `--images` JPEGs at 500x375 in 4 classes (shading, noise and shapes: ~70 KB each,
so decoding costs what real photos cost) is generated once into a temporary folder. Both sides
train the CIFAR-10 tutorial CNN at 32x32 for `--epochs` epochs on an 80/20 split with 2
DataLoader workers and the same batch size, validating after each epoch:

- plain: `ImageFolder(root, Compose([Resize((32, 32)), ToTensor(), Normalize]))`, `random_split`,
  `DataLoader(shuffle=True, num_workers=2)`, SGD: the tutorial's loop on one's own folder;
- ours: `tui-trainer run` on the same folder (`data.name=imagefolder data.num_workers=2`, the
  default `data.cache=ram`), the same model given as `module:Class`;
- ours, disk cache warm (`data.cache=disk` filled by an earlier run): the first epoch of a
  later run.

Each side runs in its own process, rounds interleaved; epoch times are wall-clock seconds
(training + validation). Reported: median seconds per epoch and the ratios plain / ours.

    python benchmarks/bench_imagefolder.py [--rounds 3] [--epochs 3] [--images 1000]

`BENCH_PLAIN_THREADS=1` gives the plain loop one compute thread (tui-trainer gives its main
process the cores its workers leave free by itself; the plain loop's 2 threads + 2 workers on 2
cores spin against each other).

Targets: first epoch >= 2x, later epochs >= 5x.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
from torch import nn
from tutorial_net import Net  # the CIFAR-10 tutorial's CNN, as bench_headless uses it

HERE = Path(__file__).resolve().parent
CLASSES = ("circle", "square", "bar", "cross")


def generate(root: Path, n: int) -> None:
    """`n` 500x375 JPEGs in 4 class folders: noise plus a class-specific shape."""
    import numpy as np
    from PIL import Image, ImageDraw

    rng = np.random.default_rng(0)
    YY, XX = np.mgrid[0:375, 0:500]
    for name in CLASSES:
        (root / name).mkdir(parents=True)
    for i in range(n):
        k = i % len(CLASSES)
        # A photo-like background (smooth shading + sensor noise: ~70 KB at quality 90, as a
        # 500x375 photo is); pure noise would make Huffman decoding, not pixels, the cost.
        phase = rng.uniform(0, 6.28, 3)
        base = np.stack(
            [128 + 60 * np.sin(XX / 40 + p) + 40 * np.cos(YY / 30 + 2 * p) for p in phase], -1
        )
        pixels = np.clip(base + rng.normal(0, 12, base.shape), 0, 255).astype(np.uint8)
        img = Image.fromarray(pixels)
        draw = ImageDraw.Draw(img)
        x, y, s = int(rng.integers(50, 350)), int(rng.integers(50, 225)), int(rng.integers(60, 120))
        colour = tuple(int(c) for c in rng.integers(0, 256, 3))
        if k == 0:
            draw.ellipse((x, y, x + s, y + s), fill=colour)
        elif k == 1:
            draw.rectangle((x, y, x + s, y + s), fill=colour)
        elif k == 2:
            draw.rectangle((x, y, x + s // 4, y + s), fill=colour)
        else:
            draw.rectangle((x, y + s // 3, x + s, y + 2 * s // 3), fill=colour)
            draw.rectangle((x + s // 3, y, x + 2 * s // 3, y + s), fill=colour)
        img.save(root / CLASSES[k] / f"{i:05d}.jpg", quality=90)


def plain(root: str, epochs: int, batch: int) -> list[float]:
    """The tutorial loop on an ImageFolder; seconds per epoch (train + validation)."""
    from torch.utils.data import DataLoader, random_split
    from torchvision import datasets, transforms

    torch.manual_seed(0)
    if os.environ.get("BENCH_PLAIN_THREADS"):  # a stronger baseline: no thread oversubscription
        torch.set_num_threads(int(os.environ["BENCH_PLAIN_THREADS"]))
    tf = transforms.Compose(
        [
            transforms.Resize((32, 32)),
            transforms.ToTensor(),
            transforms.Normalize((0.5, 0.5, 0.5), (0.5, 0.5, 0.5)),
        ]
    )
    full = datasets.ImageFolder(root, transform=tf)
    n_val = len(full) // 5
    train, val = random_split(full, [len(full) - n_val, n_val])
    train_loader = DataLoader(train, batch_size=batch, shuffle=True, num_workers=2)
    val_loader = DataLoader(val, batch_size=2 * batch, shuffle=False, num_workers=2)
    net = Net(len(full.classes))
    opt = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9)
    loss_fn = nn.CrossEntropyLoss()
    times = []
    for _ in range(epochs):
        t0 = time.perf_counter()
        net.train()
        for x, y in train_loader:
            opt.zero_grad()
            loss_fn(net(x), y).backward()
            opt.step()
        net.eval()
        correct = 0
        with torch.no_grad():
            for x, y in val_loader:
                correct += int((net(x).argmax(1) == y).sum())
        times.append(time.perf_counter() - t0)
    return times


def ours(root: str, epochs: int, batch: int, extra: list[str]) -> list[float]:
    """tui-trainer on the same folder and model; seconds per epoch (train + validation)."""
    sys.path.insert(0, str(HERE))
    from tui_trainer.config import load_config
    from tui_trainer.runlog.control import Control
    from tui_trainer.runlog.events import EpochEnd, RunStarted
    from tui_trainer.session import execute

    marks: list[float] = []

    def sink(event) -> None:
        if isinstance(event, RunStarted | EpochEnd):
            marks.append(time.perf_counter())

    out = tempfile.mkdtemp(prefix="bench-if-runs-")
    overrides = [
        "data.name=imagefolder",
        f"data.root={root}",
        "data.image_size=32",
        f"data.batch_size={batch}",
        "data.num_workers=2",
        "data.normalize={mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5]}",
        "model.name=tutorial_net:Net",  # the same class as the baseline
        "model.kwargs={}",
        "optim.name=sgd",
        "optim.lr=0.01",
        "device=cpu",
        f"epochs={epochs}",
        f"out={out}",
        *extra,
    ]
    config, name = load_config("quickstart", overrides)
    t0 = time.perf_counter()
    finished = execute(config, name, sinks=[sink], control=Control())
    shutil.rmtree(out, ignore_errors=True)
    assert finished.status == "completed", finished.error
    marks[0] = min(marks[0], t0)  # data set-up (listing, split) counts towards epoch 1
    return [b - a for a, b in itertools.pairwise(marks)]


def child(args: argparse.Namespace) -> None:
    if args.side == "plain":
        times = plain(args.root, args.epochs, args.batch)
    else:
        times = ours(args.root, args.epochs, args.batch, args.extra)
    print(json.dumps(times))


def run_side(side: str, root: Path, args: argparse.Namespace, extra: list[str]) -> list[float]:
    cmd = [sys.executable, __file__, "--child", side, "--root", str(root)]
    cmd += ["--epochs", str(args.epochs), "--batch", str(args.batch), "--", *extra]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(HERE.parent), str(HERE)])}
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"{side} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--images", type=int, default=1000)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--child", choices=["plain", "ours"])
    p.add_argument("--root")
    p.add_argument("extra", nargs="*")
    args = p.parse_args()
    if args.child:
        args.side = args.child
        child(args)
        return
    tmp = Path(tempfile.mkdtemp(prefix="bench-imagefolder-"))
    try:
        root = tmp / "images"
        t0 = time.perf_counter()
        generate(root, args.images)
        print(f"generated {args.images} JPEGs (500x375) in {time.perf_counter() - t0:.1f} s")
        cache = tmp / "cache"
        disk = ["data.cache=disk", f"data.cache_dir={cache}"]
        run_side("ours", root, args, disk)  # fill the disk cache once
        results: dict[str, list[list[float]]] = {"plain": [], "ours": [], "disk": []}
        for r in range(args.rounds):
            results["plain"].append(run_side("plain", root, args, []))
            results["ours"].append(run_side("ours", root, args, []))
            results["disk"].append(run_side("ours", root, args, disk))
            print(
                f"round {r + 1}: "
                + ", ".join(
                    f"{k} {' '.join(f'{t:.2f}' for t in v[-1])}" for k, v in results.items()
                )
            )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    def first(k: str) -> float:
        return statistics.median(t[0] for t in results[k])

    def later(k: str) -> float:
        return statistics.median(x for t in results[k] for x in t[1:])

    print(f"\nseconds per epoch (median of {args.rounds} rounds; train + validation)")
    print(f"{'':24}{'first epoch':>12}{'later epochs':>14}")
    for k, label in (
        ("plain", "plain ImageFolder"),
        ("ours", "tui-trainer (ram)"),
        ("disk", "tui-trainer (disk warm)"),
    ):
        print(f"{label:24}{first(k):12.2f}{later(k):14.2f}")
    print(
        f"ratio plain/ours: first epoch {first('plain') / first('ours'):.1f}x (target >= 2x), "
        f"later epochs {later('plain') / later('ours'):.1f}x (target >= 5x); "
        f"first epoch with a warm disk cache {first('plain') / first('disk'):.1f}x"
    )


if __name__ == "__main__":
    main()
