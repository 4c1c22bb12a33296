"""The `prune` control command: a sweep's pruner ends a live run after its epoch, as `pruned`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from support.runs import run_preset

from tui_trainer.outcome import exit_code
from tui_trainer.remote.client import request
from tui_trainer.remote.server import RunServer
from tui_trainer.runlog.control import Control
from tui_trainer.runlog.events import EpochEnd
from tui_trainer.runlog.glance import glance
from tui_trainer.runlog.status import ENDED, Status


class PruneAfterEpoch:
    """A sink that sends `prune` over the run's own control socket once `epoch` ends."""

    def __init__(self, epoch: int) -> None:
        self.epoch = epoch
        self.replies: list[dict] = []
        self.run_dir: Path | None = None

    def __call__(self, event: object) -> None:
        run_dir = getattr(event, "run_dir", None)
        if run_dir and self.run_dir is None:
            self.run_dir = Path(run_dir)
        if isinstance(event, EpochEnd) and event.epoch == self.epoch:
            assert self.run_dir is not None
            self.replies.append(request(self.run_dir, "prune"))


def test_prune_over_the_socket_ends_the_run_pruned_after_that_epoch(
    tmp_path: Path, private_runtime: Path
) -> None:
    control = Control()
    pruner = PruneAfterEpoch(epoch=1)
    finished, run_dir = run_preset(
        tmp_path / "runs",
        ["epochs=4", "data.num_samples=256"],
        control=control,
        sinks=[RunServer(control), pruner],
    )
    assert pruner.replies == [{"ok": True, "cmd": "prune", "state": "stopping", "when": "epoch"}]
    summary = json.loads((run_dir / "summary.json").read_text())
    # asked as epoch 1 ended: the run ends there, not after its 4 epochs
    assert summary["status"] == "pruned" and summary["epochs_completed"] == 1
    assert finished.status == "pruned" and exit_code(finished.status) == 0
    seen = glance(run_dir)
    assert seen.status is Status.PRUNED and Status.PRUNED in ENDED and not seen.status.live


def test_ctl_names_prune(tmp_path: Path) -> None:
    from tui_trainer.remote.commands import CTL_COMMANDS
    from tui_trainer.remote.protocol import BadRequest, parse_request

    assert "prune" in CTL_COMMANDS
    assert parse_request(b'{"cmd": "prune"}') == {"cmd": "prune"}
    with pytest.raises(BadRequest):
        parse_request(b'{"cmd": "prune", "now": true}')  # a prune always ends at the epoch
