"""A sweep through the real thing: `tui-trainer sweep`, the background scheduler and its sweep
planner, real tiny runs, the control socket's `prune`, `sweep status` and `sweep best`."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.ddp import env_with_tests
from support.queues import kill_queue

from tui_trainer.config.loader import load_config
from tui_trainer.queue.paths import QueuePaths
from tui_trainer.queue.store import DB_ENV, FINISHED, QueueStore

pytest.importorskip("optuna")
pytestmark = pytest.mark.slow

# Ten epochs of at least a second each: the pruner decides on epoch 2 (epoch 1 is its warm-up)
# and its `prune` reaches a bad trial within a second or two (the planner reads every
# PRUNE_EVERY), long before its tenth epoch, however fast the machine trains: the digits are
# read with a sleep per item, a floor under each epoch. (With the real digits an epoch takes
# about 0.1 s here, and a prune could land after the bad trial's last epoch: it ends "done".)
TRIAL = [
    "epochs=10",
    "device=cpu",
    "progress.interval=0.5",
    "data.batch_size=64",
    "data.name=support.userdata:SleepyDigits",
    "data.kwargs={sleep: 0.0004}",  # 1,797 items: about 1 s an epoch, whatever the machine
    "data.num_workers=0",
]


class Cli:
    """`tui-trainer ...` in `tmp` against a private queue database."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.db = tmp / "state" / "queue.db"
        self.env = env_with_tests(**{DB_ENV: str(self.db)})  # tests/ importable: the sleepy digits

    def __call__(self, *args: str) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "tui_trainer", *args],
            env=self.env,
            cwd=self.tmp,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    def kill_all(self) -> None:
        """Whatever the test left running: the scheduler and its jobs."""
        kill_queue(self.db)


@pytest.fixture
def cli(tmp_path: Path) -> Iterator[Cli]:
    c = Cli(tmp_path)
    yield c
    c.kill_all()


def test_a_pruned_grid_sweep_runs_ranks_and_saves_its_best(
    cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    cli("queue", "start", "--cpu-slots", "2")
    out = cli(
        "sweep",
        "quickstart",
        "optim.lr=0.05,0.000001",
        "seed=0,1",
        *TRIAL,
        "--prune",
        "--name",
        "s",
        "--out",
        "runs",
    )
    assert "sweep s: 4 trials (grid, pruned by the median); queued jobs 1-4" in out
    deadline = time.monotonic() + 540
    with QueueStore(cli.db) as store:
        while not all(j.state in FINISHED for j in store.jobs(sweep="s")):
            if time.monotonic() > deadline:
                log = QueuePaths(cli.db).log
                pytest.fail(f"timed out:\n{log.read_text() if log.exists() else ''}")
            time.sleep(0.5)
        jobs = {j.trial: j for j in store.jobs(sweep="s")}
    # lr 0.05 trains; lr 1e-6 stays at chance: both of those are stopped by the pruner
    assert [jobs[t].state for t in range(4)] == ["done", "done", "pruned", "pruned"]
    summaries = {
        t: json.loads(Path(j.run_dir or "", "summary.json").read_text()) for t, j in jobs.items()
    }
    assert summaries[2]["status"] == summaries[3]["status"] == "pruned"
    assert summaries[2]["epochs_completed"] < 10 and summaries[3]["epochs_completed"] < 10
    assert jobs[2].exit_code == 0
    board = json.loads(cli("sweep", "status", "--json"))
    assert board["sweep"] == "s" and board["metric"] == "val_accuracy"
    by_value = sorted(summaries, key=lambda t: -summaries[t]["best"]["value"])
    assert [r["trial"] for r in board["rows"]] == by_value  # ranked as the runs' own summaries
    assert [r["rank"] for r in board["rows"]] == [1, 2, 3, 4]
    assert board["rows"][0]["best"] and board["rows"][0]["trial"] in (0, 1)
    assert "wrote presets/lr-best.yaml" in cli("sweep", "best", "s", "--save-preset", "lr-best")
    monkeypatch.chdir(cli.tmp)
    config, _ = load_config("lr-best")
    assert config.optim.lr == 0.05 and config.epochs == 10


def test_a_tpe_sweep_is_asked_for_more_trials_by_the_scheduler(cli: Cli) -> None:
    out = cli(
        "sweep",
        "quickstart",
        "optim.lr=loguniform:1e-3:1e-1",
        "epochs=1",
        "device=cpu",
        "--trials",
        "3",
        "--sampler",
        "tpe",
        "--parallel",
        "1",
        "--name",
        "t",
        "--out",
        "runs",
    )
    assert "sweep t: 3 trials (tpe); queued job 1" in out
    assert "the scheduler asks Optuna for the rest, 1 at a time" in out
    deadline = time.monotonic() + 540
    with QueueStore(cli.db) as store:
        while len(done := [j for j in store.jobs(sweep="t") if j.state in FINISHED]) < 3:
            if time.monotonic() > deadline:
                log = QueuePaths(cli.db).log
                pytest.fail(f"timed out:\n{log.read_text() if log.exists() else ''}")
            time.sleep(0.5)
        jobs = store.jobs(sweep="t")
    assert [j.trial for j in jobs] == [0, 1, 2] and {j.state for j in done} == {"done"}
    assert len({j.overrides[-1] for j in jobs}) == 3  # three different learning rates
    board = json.loads(cli("sweep", "status", "t", "--json"))
    assert [r["rank"] for r in board["rows"]] == [1, 2, 3]
    values = [r["value"] for r in board["rows"]]
    assert values == sorted(values, reverse=True)
