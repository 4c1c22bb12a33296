"""What pictures cost a validation pass, and what writing them costs an epoch.

`python benchmarks/bench_pictures.py [--rounds 7] [--preset quickstart] [override ...]`

One process, one trainer (CPU, one torch thread). Each round times the validation pass twice,
the order alternating: plain (`Trainer.validate()`), and with the pictures collector of the
run's `pictures` settings (the same pass plus `collector.finish()`, its one copy to the host).
Then it times writing the two sets an epoch writes (`samples/epoch-NNNN` and
`samples/mistakes`: tiles, index.json, grid.png, staged and renamed) into a temp folder.
Prints the medians and the with/without ratio (per-round range).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch
from benchlib import machine

from tui_trainer.config import load_config
from tui_trainer.engine.pictures.recorder import PictureRecorder
from tui_trainer.runlog.control import Control
from tui_trainer.session import prepare


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--preset", default="quickstart")
    parser.add_argument("overrides", nargs="*")
    args = parser.parse_args()
    torch.set_num_threads(1)
    out = tempfile.mkdtemp(prefix="bench-pictures-")
    config, name = load_config(
        args.preset, ["device=cpu", "epochs=1", f"out={out}", *args.overrides]
    )
    trainer = prepare(config, name, control=Control()).trainer
    events: list[object] = []
    pictures = PictureRecorder(Path(out) / "pics", config.pictures, config.task, trainer.data,
                               events.append)  # fmt: skip
    trainer.validate()  # warm-up: allocations, lazy imports
    plain, with_pictures, writes = [], [], []
    for r in range(args.rounds):
        for side in ("plain", "pictures") if r % 2 == 0 else ("pictures", "plain"):
            t0 = time.perf_counter()
            if side == "plain":
                trainer.validate()
                plain.append(time.perf_counter() - t0)
                continue
            collector = pictures.collector()
            trainer.validate(collector)
            captured = collector.finish() if collector is not None else None
            with_pictures.append(time.perf_counter() - t0)
        if captured is not None:
            collector = pictures.collector()
            trainer.validate(collector)
            t0 = time.perf_counter()
            pictures.record(r + 1, collector)  # finish (again: cheap) + draw + write
            writes.append(time.perf_counter() - t0)
    ratios = [w / p for w, p in zip(with_pictures, plain, strict=True)]
    c = config.pictures
    print(f"{args.preset}: {trainer.data.val_samples} validation images, pictures.samples="
          f"{c.samples} mistakes={c.mistakes} size={c.size}; {machine()}")  # fmt: skip
    print(f"validation pass, plain:          {statistics.median(plain) * 1e3:8.1f} ms")
    print(f"validation pass, with pictures:  {statistics.median(with_pictures) * 1e3:8.1f} ms")
    print(f"with / plain: {statistics.median(ratios):.3f}x "
          f"(per round {min(ratios):.3f}-{max(ratios):.3f})")  # fmt: skip
    if writes:
        w = statistics.median(writes) * 1e3
        print(f"writing an epoch's sets (draw + PNG + rename): {w:.1f} ms "
              f"(per round {min(writes) * 1e3:.1f}-{max(writes) * 1e3:.1f})")  # fmt: skip


if __name__ == "__main__":
    main()
