"""Resume: a finished run, overrides that fail, keys that cannot change, knobs that can."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import yaml
from support.runs import TINY, only_run_dir

from tui_trainer.cli import main


def _files(run_dir: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(run_dir)): p.read_bytes()
        for p in sorted(run_dir.rglob("*"))
        if p.is_file() and p.name != ".lock"
    }


@pytest.fixture
def finished_run(tmp_path) -> Path:
    out = tmp_path / "runs"
    assert main(["run", "quickstart", *TINY, "epochs=1", "--out", str(out)]) == 0
    return only_run_dir(out)


def _config(run_dir: Path) -> dict:
    return yaml.safe_load((run_dir / "config.yaml").read_text())


def test_resuming_a_finished_run_says_so_and_changes_nothing(finished_run, capsys):
    before = _files(finished_run)
    capsys.readouterr()
    assert main(["run", "--resume", str(finished_run)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "has finished its 1 epoch(s)" in err and "epochs=11" in err
    assert _files(finished_run) == before  # summary.json untouched, no "Epoch 2/1"
    assert main(["run", "--resume", str(finished_run), "epochs=2"]) == 0  # how to extend it
    assert json.loads((finished_run / "summary.json").read_text())["epochs_completed"] == 2


def test_a_failed_resume_does_not_keep_its_overrides(finished_run):
    lr = _config(finished_run)["optim"]["lr"]
    bad = ["epochs=3", "optim.lr=1e12", "scheduler.warmup_epochs=0"]
    assert main(["run", "--resume", str(finished_run), *bad]) == 1
    saved = _config(finished_run)
    assert saved["optim"]["lr"] == lr and saved["epochs"] == 1  # as before the failed resume
    records = [json.loads(x) for x in (finished_run / "metrics.jsonl").read_text().splitlines()]
    resume = next(r for r in records if r["event"] == "resume")
    assert resume["changes"]["optim.lr"] == [lr, 1e12]
    # The next resume (giving only the epochs again) trains normally.
    assert main(["run", "--resume", str(finished_run), "epochs=2"]) == 0
    summary = json.loads((finished_run / "summary.json").read_text())
    assert summary["status"] == "completed" and summary["epochs_completed"] == 2


def test_a_resume_that_ends_well_keeps_its_overrides(finished_run):
    assert main(["run", "--resume", str(finished_run), "epochs=2", "optim.lr=0.02"]) == 0
    saved = _config(finished_run)
    assert (saved["epochs"], saved["optim"]["lr"]) == (2, 0.02)


@pytest.mark.parametrize(
    ("override", "key"),
    [
        ("optim.name=adam", "optim.name"),
        ("freeze.enabled=true", "freeze.enabled"),
    ],
)
def test_keys_that_cannot_change_on_resume_are_named(finished_run, capsys, override, key):
    before = _files(finished_run)
    capsys.readouterr()
    assert main(["run", "--resume", str(finished_run), "epochs=2", override]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert f"{key} cannot change on resume" in err
    assert _files(finished_run) == before


def test_freeze_epochs_that_would_refreeze_is_refused(tmp_path, capsys):
    out = tmp_path / "runs"
    frozen = ["freeze.enabled=true", "freeze.epochs=1"]
    assert main(["run", "quickstart", *TINY, "epochs=2", *frozen, "--out", str(out)]) == 0
    run_dir = only_run_dir(out)
    capsys.readouterr()
    assert main(["run", "--resume", str(run_dir), "epochs=5", "freeze.epochs=4"]) == 2
    err = capsys.readouterr().err
    assert "freeze.epochs cannot change on resume" in err and "unfrozen phase" in err
    # A change that keeps the phase is fine.
    assert main(["run", "--resume", str(run_dir), "epochs=3", "freeze.epochs=2"]) == 0


def test_optimizer_knobs_given_on_resume_take_effect(finished_run):
    assert main(["run", "--resume", str(finished_run), "epochs=2", "optim.weight_decay=0.05"]) == 0
    state = torch.load(finished_run / "checkpoints" / "last.pt", weights_only=True)
    assert {g["weight_decay"] for g in state["optimizer"]["param_groups"]} == {0.05}


def test_a_stop_mid_epoch_reports_the_time_and_samples_of_the_steps_that_ran(tiny_config):
    from tui_trainer.runlog.control import Control, StopMode
    from tui_trainer.runlog.events import StepProgress
    from tui_trainer.session import execute

    control = Control()

    def stop_at_step_three(event):
        if isinstance(event, StepProgress) and event.step >= 3:
            control.request_stop(StopMode.STEP)

    finished = execute(tiny_config, "quickstart", sinks=[stop_at_step_three], control=control)
    assert finished.status == "stopped" and finished.summary["epochs_completed"] == 0
    assert finished.summary["global_step"] >= 3
    assert finished.summary["train_seconds"] > 0
    assert finished.summary["samples_per_second"] > 0
