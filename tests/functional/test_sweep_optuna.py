"""The scheduler's sweep hook with Optuna: TPE trials asked as places free, results told, and a
bad trial pruned by the median of good ones (run directories from the fake engine)."""

from __future__ import annotations

from pathlib import Path

import pytest
from support.sweeps import finish, start, write_trial

from tui_trainer.queue.store import DONE, PRUNED, QUEUED, RUNNING, QueueStore
from tui_trainer.sweep.create import Request, create_sweep
from tui_trainer.sweep.planner import SweepPlanner
from tui_trainer.sweep.study import Study, journal_path

optuna = pytest.importorskip("optuna")


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> QueueStore:
    db = tmp_path / "state" / "queue.db"
    monkeypatch.setenv("TUI_TRAINER_QUEUE_DB", str(db))
    monkeypatch.chdir(tmp_path)
    return QueueStore(db)


class Pruner:
    """Stands in for the control socket: records which runs were asked to prune."""

    def __init__(self) -> None:
        self.asked: list[Path] = []

    def __call__(self, run_dir: Path) -> bool:
        self.asked.append(run_dir)
        return True


def study_of(store: QueueStore, name: str) -> optuna.Study:
    storage = optuna.storages.JournalStorage(
        optuna.storages.journal.JournalFileBackend(str(journal_path(store.path, name)))
    )
    return optuna.load_study(study_name=name, storage=storage)


def test_a_bad_trial_is_pruned_by_the_median_of_good_ones(store, tmp_path) -> None:
    items = ["optim.lr=0.1,0.05,0.01,0.001", "epochs=4"]
    _, jobs = create_sweep(store, Request("quickstart", items, name="p", prune=True))
    assert [j.trial for j in jobs] == [0, 1, 2, 3]
    pruner, clock = Pruner(), [0.0]
    planner = SweepPlanner(clock=lambda: clock[0], prune=pruner)
    runs = tmp_path / "runs"
    good = [0.6, 0.8, 0.85, 0.9]
    finish(store, jobs[0], runs / "good0", good)
    finish(store, jobs[1], runs / "good1", [v + 0.01 for v in good])
    bad, fine = runs / "bad", runs / "fine"
    start(store, jobs[2], bad)
    start(store, jobs[3], fine)
    write_trial(bad, [0.2, 0.25, 0.3, 0.3], upto=1)
    write_trial(fine, [0.65, 0.82, 0.9, 0.95], upto=1)
    assert planner.tick(store) == []
    assert pruner.asked == []  # epoch 1 is the warm-up: no trial is pruned on it
    study = study_of(store, "p")
    values = {t.number: (t.state.name, t.value) for t in study.trials}
    assert values[0] == ("COMPLETE", 0.9) and values[1][0] == "COMPLETE"
    assert study.trials[0].intermediate_values == {1: 0.6, 2: 0.8, 3: 0.85, 4: 0.9}
    write_trial(bad, [0.2, 0.25, 0.3, 0.3], upto=2)  # epoch 2: far below the median
    write_trial(fine, [0.65, 0.82, 0.9, 0.95], upto=2)
    clock[0] += 5
    planner.tick(store)
    assert pruner.asked == [bad]  # the good running trial goes on
    clock[0] += 5
    planner.tick(store)
    assert pruner.asked == [bad]  # asked once
    store.finish(jobs[2].id, PRUNED, exit_code=0)  # the run ended pruned, the scheduler saw it
    finish_fine = store.finish(jobs[3].id, DONE, exit_code=0)
    write_trial(fine, [0.65, 0.82, 0.9, 0.95])
    assert finish_fine.state == DONE
    clock[0] += 5
    planner.tick(store)
    study = study_of(store, "p")
    states = {t.number: t.state.name for t in study.trials}
    assert states == {0: "COMPLETE", 1: "COMPLETE", 2: "PRUNED", 3: "COMPLETE"}
    assert study.trials[2].intermediate_values == {1: 0.2, 2: 0.25}
    assert study.best_trial.number == 3 and study.best_value == 0.95


def test_tpe_asks_for_trials_as_places_free_and_learns_their_values(store, tmp_path) -> None:
    req = Request(
        "quickstart",
        ["optim.lr=loguniform:1e-4:1e-1", "optim.name=sgd,adamw"],
        name="t",
        trials=4,
        sampler="tpe",
        parallel=2,
        seed=3,
    )
    _, jobs = create_sweep(store, req)
    assert [j.trial for j in jobs] == [0, 1] and all(j.state == QUEUED for j in jobs)
    assert jobs[0].overrides[0].startswith("optim.lr=") and jobs[0].overrides[1] in (
        "optim.name=sgd",
        "optim.name=adamw",
    )
    planner = SweepPlanner()
    assert planner.tick(store) == []  # two in flight already
    finish(store, jobs[0], tmp_path / "runs" / "a", [0.4, 0.7])
    added = planner.tick(store)
    assert [j.trial for j in added] == [2] and added[0].sweep == "t"
    assert added[0].cwd == str(tmp_path) and added[0].out == str(tmp_path / "runs")
    study = study_of(store, "t")
    assert study.trials[0].state.name == "COMPLETE" and study.trials[0].value == 0.7
    assert study.trials[0].params["optim.lr"] == pytest.approx(
        float(jobs[0].overrides[0].partition("=")[2]), rel=1e-5
    )
    store.claim(jobs[1].id, run_dir=str(tmp_path / "runs" / "b"), gpu_ids=[])
    store.finish(jobs[1].id, "failed", exit_code=1)
    assert [j.trial for j in planner.tick(store)] == [3]
    assert planner.tick(store) == []  # 4 asked: the sweep asks no more
    assert study_of(store, "t").trials[1].state.name == "FAIL"
    assert len(store.jobs(sweep="t")) == 4
    assert {j.state for j in store.jobs(sweep="t")} == {DONE, "failed", QUEUED}
    # a planner started afresh (the scheduler restarted) asks nothing more either
    assert SweepPlanner().tick(store) == []


def test_tpe_suggestions_repeat_for_the_same_seed(tmp_path) -> None:
    from tui_trainer.sweep.space import parse_space
    from tui_trainer.sweep.spec import SweepSpec

    spec = SweepSpec("tpe", parse_space(["optim.lr=loguniform:1e-4:1e-1"]), 5, seed=9)
    asked = []
    for name in ("a", "b"):
        study = Study(tmp_path / f"{name}.journal", name, spec, "max", create=True)
        asked.append([study.ask()[1] for _ in range(3)])
    assert asked[0] == asked[1] and len({tuple(o) for o in asked[0]}) == 3


def test_a_broken_study_is_noted_and_the_other_sweeps_go_on(store, tmp_path) -> None:
    create_sweep(store, Request("quickstart", ["optim.lr=0.1,0.2"], name="a", prune=True))
    req = Request("quickstart", ["optim.lr=uniform:0.01:0.1"], name="b", trials=3, sampler="tpe")
    create_sweep(store, req)
    journal_path(store.path, "a").write_text("not a journal\n")
    notes: list[str] = []
    planner = SweepPlanner(note=notes.append)
    start(store, store.jobs(sweep="b")[0], tmp_path / "runs" / "b0")
    store.finish(store.jobs(sweep="b", states=[RUNNING])[0].id, DONE, exit_code=0)
    added = planner.tick(store)
    assert [j.sweep for j in added] == ["b"]
    planner.tick(store)
    assert len(notes) == 1 and notes[0].startswith("sweep a: ")  # said once, not every tick
