"""One-process NCCL DDP start-up through the real engine path.

A single process is normally not distributed (DistContext.enabled is world_size > 1), so this
forces the distributed path for world size 1: NCCL process-group start, DistributedDataParallel
wrapping, no_sync accumulation, the control-flag broadcasts and the epoch-sum reductions all run
for real on one GPU, through `session.execute` (the same call `tui-trainer run` makes under
torchrun). It prints how long the start-up and the run took and checks the run completed.

    python benchmarks/gpu_nccl_check.py [--epochs 1]
    python benchmarks/gpu_nccl_check.py --dry-run
"""

from __future__ import annotations

import argparse
import os
import socket
import sys
import tempfile
import time
from dataclasses import dataclass


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--dry-run", action="store_true", help="check arguments and imports only")
    args = p.parse_args(argv)
    if args.epochs < 1:
        p.error("--epochs must be >= 1")
    import torch
    import torch.distributed as tdist

    from tui_trainer.config import load_config
    from tui_trainer.engine.distributed import DistContext
    from tui_trainer.runlog.control import Control
    from tui_trainer.session import execute

    @dataclass(frozen=True)
    class OneProcessDDP(DistContext):
        """World size 1, but every distributed code path taken."""

        @property
        def enabled(self) -> bool:
            return True

    if args.dry_run:
        print(f"gpu_nccl_check dry run: {args.epochs} epoch(s) of quickstart over NCCL, 1 process")
        return 0
    if not torch.cuda.is_available() or not tdist.is_nccl_available():
        print("gpu_nccl_check: needs CUDA and NCCL", file=sys.stderr)
        return 1
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    out = tempfile.mkdtemp(prefix="nccl-check-")
    config, preset = load_config(
        "quickstart",
        ["device=cuda", "backend=nccl", f"epochs={args.epochs}", "accumulate=2", f"out={out}"],
    )
    events: list[object] = []
    t0 = time.perf_counter()
    finished = execute(
        config, preset, sinks=[events.append], control=Control(), dist=OneProcessDDP()
    )
    wall = time.perf_counter() - t0
    started = next((e for e in events if type(e).__name__ == "RunStarted"), None)
    print(f"status {finished.status} in {wall:.1f} s (NCCL {torch.cuda.nccl.version()})")
    keys = ("epochs_completed", "global_step", "final")
    print("summary:", {k: finished.summary.get(k) for k in keys})
    if started is not None:
        print(f"notes: {getattr(started, 'config', {}).get('notes')}")
    print(f"process group torn down: {not tdist.is_initialized()}")
    ok = finished.status == "completed" and not tdist.is_initialized()
    print("PASS" if ok else f"FAIL: {finished.error}")
    return 0 if ok else 3


if __name__ == "__main__":
    sys.exit(main())
