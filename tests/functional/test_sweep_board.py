"""Making a sweep, its leaderboard, `sweep status`, and `sweep best --save-preset`."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from support.cli import one_line_error
from support.sweeps import finish, start, write_trial

from tui_trainer.cli import main
from tui_trainer.config.loader import load_config
from tui_trainer.queue.daemon import WANTED_KEY
from tui_trainer.queue.store import FAILED, QUEUED, QueueStore
from tui_trainer.sinks.files import write_config
from tui_trainer.sweep.best import save_best
from tui_trainer.sweep.create import Request, create_sweep
from tui_trainer.sweep.leaderboard import find_sweep, leaderboard
from tui_trainer.sweep.spec import SweepSpec


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> QueueStore:
    """A queue database of the test's own, with the scheduler marked stopped (nothing is
    spawned: these tests move jobs themselves)."""
    db = tmp_path / "state" / "queue.db"
    monkeypatch.setenv("TUI_TRAINER_QUEUE_DB", str(db))
    monkeypatch.chdir(tmp_path)
    s = QueueStore(db)
    s.set_meta(WANTED_KEY, "stopped")
    return s


GRID = ["optim.lr=0.1,0.01", "data.batch_size=32,64", "epochs=3"]


def test_a_grid_queues_every_combination_once_with_the_sweep_and_trial(store, tmp_path) -> None:
    sweep, jobs = create_sweep(store, Request("quickstart", GRID, name="g", out="runs"))
    assert [j.trial for j in jobs] == [0, 1, 2, 3] and {j.state for j in jobs} == {QUEUED}
    assert [j.overrides for j in jobs] == [
        ["epochs=3", "optim.lr=0.1", "data.batch_size=32"],
        ["epochs=3", "optim.lr=0.1", "data.batch_size=64"],
        ["epochs=3", "optim.lr=0.01", "data.batch_size=32"],
        ["epochs=3", "optim.lr=0.01", "data.batch_size=64"],
    ]
    assert all(j.sweep == "g" and j.cwd == str(tmp_path) and j.name == "quickstart" for j in jobs)
    assert all(j.out == str(tmp_path / "runs") for j in jobs)
    assert (sweep.monitor, sweep.mode) == ("val_accuracy", "max")
    spec = SweepSpec.from_json(sweep.spec_json)
    assert (spec.sampler, spec.trials, spec.study) == ("grid", 4, False)
    for job in jobs:  # each trial is a config `run` accepts
        load_config(job.preset, job.overrides)


def test_the_board_ranks_by_the_monitored_metric_and_marks_the_best(store, tmp_path) -> None:
    _, jobs = create_sweep(store, Request("quickstart", GRID, name="g", out="runs"))
    curves = {0: [0.5, 0.6, 0.55], 1: [0.6, 0.9, 0.8], 2: [0.7, 0.75, 0.8]}
    for job in jobs[:3]:
        finish(store, job, tmp_path / "runs" / f"t{job.trial}", curves[job.trial or 0])
    start(store, jobs[3], tmp_path / "runs" / "t3")  # started, nothing written yet
    rows = leaderboard(store, "g")
    assert [(r.rank, r.trial, r.value, r.best_epoch) for r in rows] == [
        (1, 1, 0.9, 2),
        (2, 2, 0.8, 3),
        (3, 0, 0.6, 2),
        (None, 3, None, None),
    ]
    assert [r.best for r in rows] == [True, False, False, False]
    assert rows[0].overrides == ["optim.lr=0.1", "data.batch_size=64"]  # varied keys only
    assert rows[0].state == "done" and rows[3].state == "running" and rows[3].problem is None
    assert rows[0].epoch == rows[0].epochs == 3
    assert find_sweep(store, None).name == "g"


def test_a_min_metric_ranks_lowest_first(store, tmp_path) -> None:
    items = ["optim.lr=0.1,0.01,0.001", "checkpoint.monitor=val_loss"]
    sweep, jobs = create_sweep(store, Request("quickstart", items, name="m"))
    assert (sweep.monitor, sweep.mode) == ("val_loss", "min")
    for job in jobs:
        finish(store, job, tmp_path / "runs" / f"t{job.trial}", [0.5, 0.6])
    # the fake's val_loss falls with the step: every trial equal, ranked by trial number
    rows = leaderboard(store, "m")
    assert [r.rank for r in rows] == [1, 2, 3] and [r.trial for r in rows] == [0, 1, 2]
    assert all(r.value is not None and r.value < 2 for r in rows)


def test_save_preset_writes_the_winners_config_as_a_loadable_preset(store, tmp_path) -> None:
    _, jobs = create_sweep(store, Request("quickstart", GRID, name="g"))
    finish(store, jobs[0], tmp_path / "runs" / "a", [0.5, 0.6, 0.55])
    finish(store, jobs[1], tmp_path / "runs" / "b", [0.6, 0.9, 0.8])
    resolved = {  # as a real run writes it: the resolved config, its notes, its runs root
        "task": "classification",
        "epochs": 3,
        "out": str(tmp_path / "runs"),
        "optim": {"name": "sgd", "lr": 0.0123},
        "notes": ["split: 1,437 train / 360 val digits"],
    }
    write_config(tmp_path / "runs" / "b", resolved, "quickstart")
    path = save_best(store, "g", "lr-best")
    assert path == Path("presets") / "lr-best.yaml"
    config, name = load_config("lr-best")  # found as a local preset, as `run lr-best` finds it
    assert name == "lr-best" and config.optim.lr == 0.0123 and config.epochs == 3
    assert config.notes == [] and config.out == "runs"  # the run's bookkeeping left out
    assert "best of sweep g: val_accuracy 0.9 at epoch 2" in config.description
    before = path.read_bytes()
    assert main(["sweep", "best", "g", "--save-preset", "lr-best"]) == 2  # never overwritten
    assert path.read_bytes() == before


def test_save_preset_refusals_write_nothing(store, tmp_path, capsys) -> None:
    _, jobs = create_sweep(store, Request("quickstart", GRID, name="g"))
    assert main(["sweep", "best", "g", "--save-preset", "x"]) == 2
    assert "no trial has a val_accuracy value yet" in one_line_error(capsys)
    finish(store, jobs[0], tmp_path / "runs" / "a", [0.5])
    assert main(["sweep", "best", "g", "--save-preset", "../evil"]) == 2
    assert "plain preset name" in one_line_error(capsys)
    assert main(["sweep", "best", "nope", "--save-preset", "x"]) == 2
    assert not (tmp_path / "presets").exists() and not (tmp_path / "evil.yaml").exists()


def test_sweep_status_prints_the_board_and_json(store, tmp_path, capsys) -> None:
    _, jobs = create_sweep(store, Request("quickstart", GRID, name="g"))
    finish(store, jobs[2], tmp_path / "runs" / "c", [0.7, 0.8])
    store.claim(jobs[0].id, run_dir=str(tmp_path / "runs" / "a"), gpu_ids=[])
    store.finish(jobs[0].id, FAILED, exit_code=1, error="boom")
    capsys.readouterr()
    assert main(["sweep", "status", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["sweep"] == "g" and out["metric"] == "val_accuracy" and out["mode"] == "max"
    assert [(r["trial"], r["rank"], r["best"], r["state"]) for r in out["rows"]] == [
        (2, 1, True, "done"),
        (0, None, False, "failed"),
        (1, None, False, "queued"),
        (3, None, False, "queued"),
    ]
    assert main(["sweep", "status", "g"]) == 0
    text = capsys.readouterr().out
    assert "ranked by val_accuracy (max)" in text and "80.00%" in text
    assert "1 *" in text.splitlines()[2]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["sweep", "quickstart", "optim.lr=1,,2"], "an empty value"),
        (["sweep", "quickstart", "epochs=3"], "nothing to sweep"),
        (["sweep", "quickstart", "optim.lr=uniform:0.1:1"], "needs --trials"),
        (["sweep", "quickstart", "optim.lr=uniform:0:1", "--trials", "2"], "optim.lr=0"),
        (["sweep", "quickstart", "optim.lr=0.1,fast"], "optim.lr"),
        (["sweep", "quickstart", "optim.lr=0.1,0.2", "--trials", "0"], "expected 1 to"),
        (
            ["sweep", "quickstart", "optim.lr=0.1,0.2", "--sampler", "grid", "--trials", "2"],
            "--trials",
        ),
        (["sweep", "quickstart", "optim.lr=0.1,0.2", "--sampler", "bayes"], "--sampler"),
        (["sweep", "quickstart", "optim.lr=0.1,0.2", "--name", "a/b"], "plain name"),
        (["sweep", "quickstart", "optim.lr=0.1,0.2", "--json"], "--json does not go"),
        (["sweep", "status", "--prune"], "--prune does not go"),
        (["sweep", "nosuchpreset", "optim.lr=0.1,0.2"], "no such preset"),
        (["sweep", "best"], "expected one SWEEP name"),
    ],
)
def test_bad_sweeps_exit_2_with_one_line_and_queue_nothing(store, capsys, argv, message) -> None:
    assert main(argv) == 2
    assert message in one_line_error(capsys)
    assert store.jobs() == [] and store.sweeps() == []


def test_an_out_of_range_end_is_refused_before_anything_is_queued(store, capsys) -> None:
    assert (
        main(["sweep", "quickstart", "epochs=int:0:3", "--trials", "2", "--sampler", "random"]) == 2
    )
    assert "epochs" in one_line_error(capsys)
    assert store.jobs() == []


def test_the_cli_queues_a_seeded_random_search(store, capsys) -> None:
    argv = ["sweep", "quickstart", "optim.lr=loguniform:1e-4:1e-1", "--trials", "3"]
    assert main([*argv, "--sampler", "random", "--seed", "5", "--name", "r"]) == 0
    out = capsys.readouterr().out
    assert "sweep r: 3 trials (random); queued jobs 1-3" in out
    assert "the scheduler is stopped" in out
    first = [j.overrides for j in store.jobs(sweep="r")]
    assert main([*argv, "--sampler", "random", "--seed", "5", "--name", "r2"]) == 0
    assert [j.overrides for j in store.jobs(sweep="r2")] == first  # the same seed, the same draws
    assert len({tuple(o) for o in first}) == 3
    assert main(["sweep", "quickstart", "optim.lr=0.1,0.2", "--name", "r"]) == 2  # name taken


def test_without_optuna_tpe_and_prune_say_how_to_install_it(store, capsys, monkeypatch) -> None:
    monkeypatch.setitem(__import__("sys").modules, "optuna", None)  # import optuna fails
    argv = ["sweep", "quickstart", "optim.lr=loguniform:1e-4:1e-1", "--trials", "2"]
    assert main([*argv, "--sampler", "tpe"]) == 2
    assert "pip install 'tui-trainer[sweep]'" in one_line_error(capsys)
    assert main(["sweep", "quickstart", "optim.lr=0.1,0.2", "--prune"]) == 2
    assert "--prune needs Optuna" in one_line_error(capsys)
    assert store.jobs() == []
    assert main([*argv, "--name", "fallback"]) == 0  # --trials alone: the built-in random search
    assert SweepSpec.from_json(store.sweep("fallback").spec_json).sampler == "random"


def test_a_trial_still_running_reads_its_last_epoch(store, tmp_path) -> None:
    _, jobs = create_sweep(store, Request("quickstart", GRID, name="g"))
    start(store, jobs[0], tmp_path / "runs" / "live")
    write_trial(tmp_path / "runs" / "live", [0.3, 0.6, 0.7, 0.9], upto=2)
    (row,) = [r for r in leaderboard(store, "g") if r.trial == 0]
    assert (row.value, row.best_epoch, row.epoch, row.epochs, row.rank) == (0.6, 2, 2, 4, 1)
    assert os.path.isabs(row.run_dir or "")
