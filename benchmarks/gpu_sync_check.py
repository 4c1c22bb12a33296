"""No host sync inside a training step: the real trainer under torch.cuda.set_sync_debug_mode.

Runs short training runs through `session.execute` (the same path as `tui-trainer run`) with
CUDA's sync debug mode on "warn", records the Python stack of every synchronizing call, and
attributes each one to the innermost tui_trainer frame. The loop is designed to sync only when
it emits a progress event (time-throttled) and at epoch ends, so the training-side syncs must
not grow with the number of steps: PASS when they stay under 2 × (progress events + epochs) + 8
while the run takes many more optimizer steps. Validation syncs are listed apart.

    python benchmarks/gpu_sync_check.py [--steps-per-epoch 100] [--epochs 2]
    python benchmarks/gpu_sync_check.py --dry-run
"""

from __future__ import annotations

import argparse
import collections
import sys
import tempfile
import traceback
import warnings
from pathlib import Path

VARIANTS = {
    "bf16": ["precision=bf16"],
    "fp16": ["precision=fp16"],
    "fp16 + clip + EMA + mixup/cutmix + channels_last": [
        "precision=fp16",
        "optim.clip_grad_norm=1.0",
        "ema.enabled=true",
        "data.augment.mixup.prob=0.4",
        "data.augment.cutmix.prob=0.4",
        "channels_last=true",
    ],
}


def _site(stack: list[traceback.FrameSummary]) -> tuple[str, str]:
    """Where a sync came from: (innermost tui_trainer frame as file:line (function), kind).

    kind is "val" inside validation, "scaler" when torch's GradScaler itself syncs (its step
    reads the found-inf flag on the host: inherent to torch.amp.GradScaler, reported apart),
    else "train".
    """
    ours = [f for f in stack if "tui_trainer" in f.filename and "warnings" not in f.filename]
    kind = "train"
    if any("valid" in f.name for f in ours):
        kind = "val"
    elif any("grad_scaler" in f.filename for f in stack):
        kind = "scaler"
    if not ours:
        return "(outside tui_trainer)", kind
    f = ours[-1]
    short = f.filename[f.filename.rfind("tui_trainer") :]
    return f"{short}:{f.lineno} ({f.name})", kind


def check(name: str, overrides: list[str], args: argparse.Namespace) -> bool:
    import torch

    from tui_trainer.config import load_config
    from tui_trainer.runlog.control import Control
    from tui_trainer.runlog.events import StepProgress
    from tui_trainer.session import execute

    out = Path(tempfile.mkdtemp(prefix="sync-check-"))
    samples = args.steps_per_epoch * args.batch + args.batch
    config, preset = load_config(
        "fake-benchmark",
        [
            f"device={args.device}",
            "data.name=fake",
            f"data.num_samples={int(samples / 0.8) + 1}",
            "data.image_size=64",
            "model.name=resnet18",
            f"data.batch_size={args.batch}",
            f"epochs={args.epochs}",
            "progress.interval=2.0",
            f"out={out}",
            *overrides,
        ],
    )
    events: list[object] = []
    sites: collections.Counter[tuple[str, str]] = collections.Counter()
    original = warnings.showwarning

    def record(message, category, filename, lineno, file=None, line=None):  # type: ignore[no-untyped-def]
        if "synchroniz" in str(message).lower():
            sites[_site(traceback.extract_stack()[:-1])] += 1
        else:
            original(message, category, filename, lineno, file, line)

    warnings.showwarning = record
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("always")
            warnings.showwarning = record
            cuda = args.device == "cuda"
            if cuda:
                torch.cuda.set_sync_debug_mode("warn")
            try:
                finished = execute(config, preset, sinks=[events.append], control=Control())
            finally:
                if cuda:
                    torch.cuda.set_sync_debug_mode("default")
    finally:
        warnings.showwarning = original
    steps = finished.summary.get("global_step", 0)
    emits = sum(isinstance(e, StepProgress) for e in events)
    by_kind = collections.Counter()
    for (_site_name, kind), n in sites.items():
        by_kind[kind] += n
    train, val, scaler = by_kind["train"], by_kind["val"], by_kind["scaler"]
    limit = 2 * (emits + args.epochs) + 8
    ok = finished.status == "completed" and train <= limit and steps >= 4 * limit
    print(
        f"\n[{name}] status {finished.status}, {steps} optimizer steps, {emits} progress "
        f"events, {args.epochs} epochs"
    )
    print(
        f"  training-side syncs: {train} (limit {limit}; {train / max(steps, 1):.3f} per step)"
        f", validation syncs: {val}, GradScaler's own found-inf checks: {scaler}"
    )
    for (site, kind), n in sites.most_common():
        print(f"    {n:>6}  {kind:<6}  {site}")
    if steps < 4 * limit:
        print("  (too few steps for a verdict: raise --steps-per-epoch)")
    print(f"  {'PASS' if ok else 'FAIL'}: no per-step host sync" + ("" if ok else " (see sites)"))
    return ok


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps-per-epoch", type=int, default=100)
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--dry-run", action="store_true", help="check arguments and imports only")
    p.add_argument("--device", default="cuda", help="cuda (cpu: smoke-test the plumbing only)")
    args = p.parse_args(argv)
    if min(args.steps_per_epoch, args.epochs, args.batch) < 1:
        p.error("--steps-per-epoch, --epochs and --batch must be >= 1")
    import torch

    import tui_trainer.session  # noqa: F401

    if args.dry_run:
        print(
            f"gpu_sync_check dry run: {len(VARIANTS)} runs of {args.epochs} epoch(s) x "
            f"{args.steps_per_epoch} steps: {', '.join(VARIANTS)}"
        )
        return 0
    if args.device == "cuda" and not torch.cuda.is_available():
        print("gpu_sync_check: CUDA is not available", file=sys.stderr)
        return 1
    results = [check(name, overrides, args) for name, overrides in VARIANTS.items()]
    return 0 if all(results) else 3


if __name__ == "__main__":
    sys.exit(main())
