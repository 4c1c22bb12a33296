"""What the steering hook costs a training step: `Steerer.at_step` against one optimizer step.

`python benchmarks/bench_steer.py [--rounds 5]`

The loop calls `Steerer.at_step` once per optimizer step (with nothing scheduled it only notes
the position), and the control polling sends one more int in the flags it already broadcasts.
Each round times a burst of `at_step` calls and a burst of real quickstart optimizer steps
(the same trainer, CPU), interleaved, and prints the hook's cost as a share of a step.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from tui_trainer.config import load_config
from tui_trainer.runlog.control import Control
from tui_trainer.session import prepare


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(1)
    config, name = load_config("quickstart", ["device=cpu", "epochs=1", "out=/tmp/bench-steer"])
    trainer = prepare(config, name, control=Control()).trainer
    loader = trainer.data.make_train(config.data.batch_size)
    loader.set_epoch(0)
    batches = [(x, y) for _, (x, y) in zip(range(20), loader.iterate(0), strict=False)]
    hook, step = [], []
    for _ in range(args.rounds):
        t0 = time.perf_counter()
        for i in range(20000):
            trainer.steering.at_step(i / 1000)
        hook.append((time.perf_counter() - t0) / 20000)
        t0 = time.perf_counter()
        for x, y in batches:
            trainer.stepper.backward(x, y, 1.0, defer_sync=False)
            trainer.stepper.step()
        step.append((time.perf_counter() - t0) / len(batches))
    h, s = statistics.median(hook), statistics.median(step)
    print(f"at_step: {h * 1e6:.2f} µs  optimizer step: {s * 1e3:.2f} ms  ratio: {h / s:.2e}")


if __name__ == "__main__":
    main()
