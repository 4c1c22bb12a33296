"""tui-trainer vs PyTorch Lightning on the same net and data: training samples/s and wall time.

Lightning is not a dependency of tui-trainer: without it installed this prints one line and
exits 0 (to measure, install it beside torch without letting pip touch torch, e.g.
`pip install --no-deps --target /tmp/lt "lightning>=2.6"` and put /tmp/lt on PYTHONPATH).

Both sides train the CIFAR-10 tutorial CNN (`tutorial_net:Net`, tui-trainer gets it as a
user's `module:Class`) for 3 epochs on the fake-benchmark preset's 3×32×32 images, batch 128,
SGD (lr 0.02, momentum 0.9), validating after every epoch. Lightning gets the data as a person
writes it: the images pre-normalised in memory as a `TensorDataset` + `DataLoader(shuffle=True)`,
a default `Trainer` (progress bar on, its default logger and checkpointing). tui-trainer is
`tui-trainer run PRESET model.name=tutorial_net:Net ...`, as a user starts it.

Each side runs in a fresh process on a pseudo-terminal of 120x40 (both draw progress), rounds
interleaved, alternating which goes first. Two figures, ratios of medians:
- training samples/s: tui-trainer's summary.json vs a Lightning callback timing each epoch's
  training batches (validation excluded on both sides);
- whole-process wall time of the 3-epoch run (imports, data, training, validation, files).

    python benchmarks/bench_lightning.py [--rounds 3] [--epochs 3]

Targets: samples/s ours / Lightning >= 1.2; wall ours / Lightning <= 0.8.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import tempfile
import time
from pathlib import Path

import benchlib


def lightning_worker(epochs: int, result: Path, root: Path) -> None:
    """The Lightning run (this process); writes {"samples_per_second": ...} to `result`."""
    import lightning as L
    import torch
    import torch.nn.functional as F
    from torch.utils.data import DataLoader, TensorDataset
    from tutorial_net import Net

    class Classifier(L.LightningModule):
        def __init__(self) -> None:
            super().__init__()
            self.net = Net(benchlib.NUM_CLASSES)

        def training_step(self, batch, batch_idx):
            x, y = batch
            loss = F.cross_entropy(self.net(x), y)
            self.log("train_loss", loss, prog_bar=True)
            return loss

        def validation_step(self, batch, batch_idx):
            x, y = batch
            logits = self.net(x)
            self.log("val_loss", F.cross_entropy(logits, y), prog_bar=True)
            self.log("val_acc", (logits.argmax(1) == y).float().mean(), prog_bar=True)

        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), lr=benchlib.LR, momentum=benchlib.MOMENTUM)

    class Clock(L.Callback):
        """Training seconds: each epoch's start to its last training batch (no validation)."""

        def __init__(self) -> None:
            self.seconds, self.samples, self.t0, self.last = 0.0, 0, 0.0, 0.0

        def on_train_epoch_start(self, trainer, module) -> None:
            self.t0 = self.last = time.perf_counter()

        def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx) -> None:
            self.last = time.perf_counter()
            self.samples += int(batch[1].shape[0])

        def on_train_epoch_end(self, trainer, module) -> None:
            self.seconds += self.last - self.t0

    train_x, train_y, val_x, val_y = benchlib.fake_tensors()
    torch.manual_seed(benchlib.SEED)
    train = DataLoader(TensorDataset(train_x, train_y), batch_size=benchlib.BATCH, shuffle=True)
    val = DataLoader(TensorDataset(val_x, val_y), batch_size=2 * benchlib.BATCH)
    clock = Clock()
    trainer = L.Trainer(
        max_epochs=epochs,
        accelerator="cpu",
        devices=1,
        default_root_dir=str(root),
        enable_progress_bar=True,
        callbacks=[clock],
    )
    trainer.fit(Classifier(), train, val)
    result.write_text(json.dumps({"samples_per_second": clock.samples / clock.seconds}))


def lightning(epochs: int, size: tuple[int, int]) -> tuple[float, float]:
    """Lightning in a fresh process on a pty: (training samples/s, wall seconds)."""
    with tempfile.TemporaryDirectory() as tmp:
        result = Path(tmp) / "result.json"
        argv = [sys.executable, str(Path(__file__).resolve()), "--worker", str(result)]
        argv += ["--epochs", str(epochs)]
        wall, _ = benchlib.run_process(argv, size=size)
        return float(json.loads(result.read_text())["samples_per_second"]), wall


def ours(epochs: int, size: tuple[int, int]) -> tuple[float, float]:
    """`tui-trainer run` in a fresh process on a pty: (training samples/s, wall seconds)."""
    with tempfile.TemporaryDirectory() as out:
        argv = benchlib.tui_trainer(
            "run", benchlib.PRESET, f"model.name={benchlib.MODEL}", f"epochs={epochs}"
        )
        wall, _ = benchlib.run_process([*argv, "device=cpu", f"--out={out}"], size=size)
        return float(benchlib.read_summary(Path(out))["samples_per_second"]), wall


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--worker", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if importlib.util.find_spec("lightning") is None:
        print("bench_lightning: Lightning is not installed (pip install lightning); skipped")
        return 0
    if args.worker:
        lightning_worker(args.epochs, args.worker, args.worker.parent)
        return 0
    from importlib.metadata import version  # not `import lightning`: keep this process light

    size = (120, 40)
    print(f"machine: {benchlib.machine()}; Lightning {version('lightning')}", flush=True)
    runs: dict[str, list[tuple[float, float]]] = {"lightning": [], "ours": []}
    arms = {"lightning": lightning, "ours": ours}
    for i in range(args.rounds):
        order = ["lightning", "ours"] if i % 2 == 0 else ["ours", "lightning"]
        for name in order:
            runs[name].append(arms[name](args.epochs, size))
        (ls, lw), (os_, ow) = runs["lightning"][-1], runs["ours"][-1]
        print(
            f"round {i + 1}: samples/s Lightning {ls:,.0f} ours {os_:,.0f} ({os_ / ls:.3f}); "
            f"wall Lightning {lw:.1f} s ours {ow:.1f} s ({ow / lw:.3f})",
            flush=True,
        )
    print(f"{args.rounds} rounds of a {args.epochs}-epoch run, each in its own process")
    lightning_sps, lightning_wall = zip(*runs["lightning"], strict=True)
    ours_sps, ours_wall = zip(*runs["ours"], strict=True)
    benchlib.report("Lightning", list(lightning_sps), "ours", list(ours_sps), "training samples/s")
    benchlib.report("Lightning", list(lightning_wall), "ours", list(ours_wall), "wall seconds")
    return 0


if __name__ == "__main__":
    sys.exit(main())
