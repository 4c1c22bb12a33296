"""torchrun target of test_steering_ddp: the real CLI, with what each rank applied logged.

Each rank appends every steering change it applies (the step, the LR it computes next, the run
length) to `$STEER_LOG.<rank>`, and at the end a digest of its model's weights.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys

from tui_trainer.cli import main
from tui_trainer.engine import loop, steer

LOG = os.environ["STEER_LOG"]
RANK = int(os.environ.get("RANK", "0"))


def write(record: dict) -> None:
    with open(f"{LOG}.{RANK}", "a", encoding="utf-8") as f:
        f.write(json.dumps(record) + "\n")


original_apply = steer.Steerer._apply
original_run = loop.Trainer.run


def logged_apply(self, change, source, scheduled):
    ok = original_apply(self, change, source, scheduled)
    write(
        {
            "step": self.position.global_step,
            "change": change.text,
            "ok": ok,
            "next_lr": self.schedule.lr_at(self.progress),
            "epochs": self.schedule.epochs,
        }
    )
    return ok


def logged_run(self, bus, extra=None):
    finished = original_run(self, bus, extra)
    digest = hashlib.sha256()
    for value in self.model.state_dict().values():
        digest.update(value.detach().cpu().numpy().tobytes())
    write({"weights": digest.hexdigest(), "steps": self.progress.global_step})
    return finished


steer.Steerer._apply = logged_apply
loop.Trainer.run = logged_run
sys.exit(main(sys.argv[1:]))
