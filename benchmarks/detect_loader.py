"""Detection loader throughput: images per second out of `DetectionLoader`, nothing trained.

Generated scenes (smooth shading + noise + 1-4 coloured rectangles) at a source size fitting
the image size (`--image-sizes`, e.g. 64 from ~96x72 sources, 640 from ~800x600 sources), fed
from memory (`Annotated.pixels`, as the generated shapes are) and from JPEG files (decoded by
the loader). For each: validation (letterbox only) and training with the full augmentation
(flip, scale 0.5, colour 0.4, mosaic 1.0 while it is on); 0 and `--workers` DataLoader workers.
One warm-up epoch (it starts the persistent workers), then `--epochs` timed epochs.
For comparison, `fcos_tiny`'s training step (forward, losses, backward, Adam) on the same
batches at each size: what the loader must keep up with on this machine.

    python benchmarks/detect_loader.py [--images 256] [--batch 16] [--workers 2]
                                       [--image-sizes 64 640] [--epochs 2]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from tui_trainer.engine.tasks.detection.index import Annotated
from tui_trainer.engine.tasks.detection.loader import DetectionLoader
from tui_trainer.engine.tasks.detection.transforms import DetectAugment

FULL = DetectAugment(hflip=True, scale=0.5, color=0.4, mosaic=1.0, mosaic_until=1.0)


def scenes(n: int, image_size: int, seed: int = 0) -> list[Annotated]:
    """`n` generated photos about 1.25x `image_size` wide, 4:3, with 1-4 rectangles each."""
    rng = np.random.default_rng(seed)
    w = max(8, round(image_size * 1.25))
    h = w * 3 // 4
    yy, xx = np.mgrid[0:h, 0:w]
    out = []
    for i in range(n):
        shade = (xx * rng.uniform(0.1, 0.4) + yy * rng.uniform(0.1, 0.4)) % 255
        pixels = np.clip(shade[..., None] + rng.normal(0, 12, (h, w, 3)), 0, 255).astype(np.uint8)
        boxes, labels = [], []
        for _ in range(int(rng.integers(1, 5))):
            bw, bh = int(rng.integers(w // 8, w // 2)), int(rng.integers(h // 8, h // 2))
            x0, y0 = int(rng.integers(0, w - bw)), int(rng.integers(0, h - bh))
            k = int(rng.integers(0, 3))
            pixels[y0 : y0 + bh, x0 : x0 + bw] = ((220, 40, 40), (40, 220, 40), (40, 40, 220))[k]
            boxes.append((x0, y0, x0 + bw, y0 + bh))
            labels.append(k)
        out.append(
            Annotated(
                boxes=np.array(boxes, np.float32),
                labels=np.array(labels, np.int64),
                width=w,
                height=h,
                pixels=pixels,
                image_id=i,
            )
        )
    return out


def to_files(samples: list[Annotated], folder: Path) -> list[Annotated]:
    """The samples as JPEG files (quality 90), pixels dropped."""
    from PIL import Image

    out = []
    for a in samples:
        path = folder / f"{a.image_id}.jpg"
        Image.fromarray(a.pixels).save(path, quality=90)
        out.append(replace(a, pixels=None, path=path))
    return out


def rate(samples: list[Annotated], size: int, batch: int, workers: int, train: bool, epochs: int):
    """Images per second over `epochs` timed epochs after one warm-up epoch."""
    loader = DetectionLoader(
        samples,
        image_size=size,
        batch_size=batch,
        shuffle=train,
        seed=0,
        augment=FULL if train else None,
        num_workers=workers,
        pin_memory=False,
        drop_last_single=train,
    )
    try:
        for _ in loader:  # warm-up: starts the workers, fills the OS file cache
            pass
        count, start = 0, time.perf_counter()
        for epoch in range(1, epochs + 1):
            loader.set_epoch(epoch)
            for x, _ in loader:
                count += x.shape[0]
        return count / (time.perf_counter() - start)
    finally:
        loader.release()


def step_rate(samples: list[Annotated], size: int, batch: int, steps: int = 6) -> float:
    """Images per second of `fcos_tiny`'s training step on this CPU (the loader's consumer)."""
    import torch

    from tui_trainer.engine.tasks.detection.tiny import fcos_tiny

    model = fcos_tiny(4, size)
    model.train()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    loader = DetectionLoader(
        samples,
        image_size=size,
        batch_size=batch,
        shuffle=True,
        seed=0,
        augment=None,
        num_workers=0,
        pin_memory=False,
    )
    batches = list(loader)[: steps + 1]
    count, start = 0, 0.0
    for i, (x, targets) in enumerate(batches):
        if i == 1:  # the first step warms up
            count, start = 0, time.perf_counter()
        targets = [dict(t, labels=t["labels"] + 1) for t in targets]  # the model's background 0
        loss = sum(model(list(x), targets).values())
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        count += x.shape[0]
    return count / (time.perf_counter() - start)


def main() -> None:
    """Print a table of loader throughput (images/s)."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--images", type=int, default=256)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--image-sizes", type=int, nargs="+", default=[64, 640])
    args = ap.parse_args()
    print(f"{'size':>5} {'source':>7} {'mode':>5} {'workers':>7} {'images/s':>9}")
    for size in args.image_sizes:
        memory = scenes(args.images, size)
        with tempfile.TemporaryDirectory() as tmp:
            files = to_files(memory, Path(tmp))
            for source, samples in (("memory", memory), ("jpeg", files)):
                for mode in ("val", "train"):
                    for workers in sorted({0, args.workers}):
                        r = rate(samples, size, args.batch, workers, mode == "train", args.epochs)
                        print(f"{size:>5} {source:>7} {mode:>5} {workers:>7} {r:>9.0f}", flush=True)
        r = step_rate(memory, size, args.batch)
        print(f"{size:>5} {'fcos_tiny training step':>23} {r:>9.0f}", flush=True)


if __name__ == "__main__":
    main()
