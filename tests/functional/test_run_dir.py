"""`run PRESET --run-dir DIR`: start exactly there, continue the run there, or refuse (exit 2)."""

from __future__ import annotations

import errno
import json
import os
import stat
from pathlib import Path

import pytest
import yaml
from support.cli import one_line_error
from support.runs import TINY, StepLosses

import tui_trainer.session as session
from tui_trainer.cli import main
from tui_trainer.config import load_config
from tui_trainer.errors import UserError
from tui_trainer.run_target import choose, config_difference
from tui_trainer.rundir import RunDirBusy, RunDirLock
from tui_trainer.runlog.control import Control
from tui_trainer.runlog.events import EpochEnd, StepProgress
from tui_trainer.session import execute

RUN = [*TINY, "epochs=3", "data.batch_size=128", "progress.interval=1e-9"]


class SteerAt(StepLosses):
    """Step losses, an `lr=*0.5` steered at step 4 and (optionally) a stop at `stop_at`."""

    def __init__(self, control: Control, stop_at: int | None = None) -> None:
        super().__init__(control, stop_at)

    def __call__(self, event) -> None:
        super().__call__(event)
        if isinstance(event, StepProgress) and event.global_step == 4:
            assert self.control is not None
            self.control.steer("lr=*0.5")


def _run(run_dir: Path, sink=None, control: Control | None = None, extra=()):
    config, name = load_config("quickstart", [*RUN, *extra])
    return execute(
        config, name, sinks=[sink] if sink else [], control=control or Control(), run_dir=run_dir
    )


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def test_a_new_run_starts_exactly_there_and_private(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    target = tmp_path / "jobs" / "42"
    assert main(["run", "quickstart", *TINY, "epochs=1", "--run-dir", str(target)]) == 0
    assert json.loads((target / "summary.json").read_text())["status"] == "completed"
    assert (target / "checkpoints" / "last.pt").is_file()
    assert stat.S_IMODE(target.stat().st_mode) == 0o700
    assert not (tmp_path / "runs").exists()  # nothing under the default runs root

    empty = tmp_path / "made-by-the-scheduler"
    empty.mkdir(mode=0o755)
    assert main(["run", "quickstart", *TINY, "epochs=1", "--run-dir", str(empty)]) == 0
    assert (empty / "config.yaml").is_file()
    assert stat.S_IMODE(empty.stat().st_mode) == 0o700


def test_an_interrupted_run_continues_exactly_with_its_steering(tmp_path):
    control = Control()
    whole = SteerAt(control)
    assert _run(tmp_path / "whole", whole, control).status == "completed"

    run_dir = tmp_path / "job"
    control = Control()
    first = SteerAt(control, stop_at=9)
    assert _run(run_dir, first, control).status == "interrupted"
    saved = yaml.safe_load((run_dir / "config.yaml").read_text())
    assert saved["steering"] == [{"step": 4, "change": "lr=*0.5"}]

    second = StepLosses()  # the same command again: the steering comes from the run directory
    finished = _run(run_dir, second)
    assert finished.status == "completed"
    assert finished.summary["run_dir"] == str(run_dir)
    assert min(second.losses) == 10
    assert {**first.losses, **second.losses} == whole.losses  # every step, exactly
    assert any(m.startswith("--run-dir: continuing the run in") for m in second.logs)
    assert yaml.safe_load((run_dir / "config.yaml").read_text())["steering"] == saved["steering"]


def test_a_killed_run_without_summary_continues(tmp_path):
    run_dir = tmp_path / "job"
    control = Control()
    assert _run(run_dir, StepLosses(control, stop_at=9), control).status == "interrupted"
    (run_dir / "summary.json").unlink()  # as a SIGKILL leaves it: checkpoints, no summary
    assert main(["run", "quickstart", *RUN, "--run-dir", str(run_dir)]) == 0
    assert json.loads((run_dir / "summary.json").read_text())["status"] == "completed"


@pytest.mark.parametrize(
    "make, why",
    [
        ("finished", "holds a finished run (status completed)"),
        ("other", "holds a run of another config (optim.lr: 0.05 there, 0.01 now)"),
        ("folder", "is not empty and not a run directory (no config.yaml)"),
        ("file", "is not a folder"),
    ],
)
def test_refusals_name_the_directory_and_why_and_change_nothing(tmp_path, capsys, make, why):
    run_dir = tmp_path / "job"
    extra: list[str] = []
    if make in ("finished", "other"):
        control = Control()
        stop = None if make == "finished" else 9
        _run(run_dir, StepLosses(control, stop_at=stop), control, ["optim.lr=0.05"])
        extra = ["optim.lr=0.01" if make == "other" else "optim.lr=0.05"]
    elif make == "folder":
        run_dir.mkdir()
        (run_dir / "notes.txt").write_text("mine")
    else:
        run_dir.write_text("a file")
    before = _files(run_dir) if run_dir.is_dir() else run_dir.read_bytes()
    capsys.readouterr()  # the first run's output
    code = main(["run", "quickstart", *RUN, *extra, "--run-dir", str(run_dir)])
    assert code == 2
    line = one_line_error(capsys)
    assert line.startswith(f"tui-trainer: error: --run-dir: '{run_dir}' {why}"), line
    assert (_files(run_dir) if run_dir.is_dir() else run_dir.read_bytes()) == before


def test_a_run_that_died_before_its_first_checkpoint_starts_again_keeping_its_files(tmp_path):
    """A scheduler resubmits the command of a job killed before any checkpoint: the run starts
    again in the same directory; what the dead attempt wrote moves to earlier-1/, not lost."""
    run_dir = tmp_path / "job"
    control = Control()
    _run(run_dir, StepLosses(control, stop_at=9), control)
    for ckpt in (run_dir / "checkpoints").iterdir():
        ckpt.unlink()
    (run_dir / "summary.json").unlink()  # killed: no checkpoint, no summary
    before = _files(run_dir)
    again = StepLosses()
    finished = _run(run_dir, again)
    assert finished.status == "completed"
    assert min(again.losses) == 1  # from the first step, not continued
    assert any("ended before its first checkpoint" in m for m in again.logs)
    kept = {
        k.removeprefix("earlier-1/"): v
        for k, v in _files(run_dir).items()
        if k.startswith("earlier-1/")
    }
    assert kept == {k: v for k, v in before.items() if k != ".lock"}
    assert json.loads((run_dir / "summary.json").read_text())["status"] == "completed"
    # and once more killed before a checkpoint: a second set-aside, the first kept
    for ckpt in (run_dir / "checkpoints").iterdir():
        ckpt.unlink()
    (run_dir / "summary.json").unlink()
    assert _run(run_dir).status == "completed"
    assert (run_dir / "earlier-1").is_dir() and (run_dir / "earlier-2" / "config.yaml").is_file()


def test_a_live_writer_is_refused_as_busy(tmp_path):
    run_dir = tmp_path / "job"
    run_dir.mkdir()
    config, _ = load_config("quickstart", RUN)
    with RunDirLock.acquire(run_dir), pytest.raises(RunDirBusy, match="being written by pid"):
        choose(run_dir, config)


@pytest.mark.parametrize(
    "args",
    [["--run-dir", "x", "--out", "y"], ["--run-dir", "x", "--resume", "y"], ["--run-dir", "x"]],
)
def test_run_dir_with_out_resume_or_no_preset_is_bad_input(tmp_path, capsys, monkeypatch, args):
    monkeypatch.chdir(tmp_path)
    preset = [] if args == ["--run-dir", "x"] else ["quickstart"]
    assert main(["run", *preset, *args]) == 2
    assert "--run-dir: give a PRESET" in one_line_error(capsys)
    assert os.listdir(tmp_path) == []


# -- the "same config" rule (pure) ----------------------------------------------------------------
def _dump(*overrides: str) -> dict:
    return load_config("quickstart", list(overrides))[0].model_dump(mode="json")


def test_bookkeeping_keys_do_not_make_another_config():
    saved = _dump("epochs=3")
    saved["notes"] = ["split: 10% validation", "2 processes: ..."]
    saved["out"] = "elsewhere"
    saved["steering"] = [{"step": 4, "change": "lr=*0.5"}, {"step": 9, "change": "epochs=5"}]
    assert config_difference(saved, _dump("epochs=3")) is None
    asked = _dump("epochs=3", "steering=[{step: 9, change: epochs=5}]")
    assert config_difference(saved, asked) is None  # the preset's own entry is in the list
    missing = _dump("epochs=3", "steering=[{step: 2, change: validate}]")
    assert config_difference(saved, missing) == (
        "steering: the requested entries are not in the saved list"
    )
    assert config_difference(saved, _dump("epochs=4")) == "epochs: 3 there, 4 now"


def test_an_oom_reduction_keeps_the_config_when_the_effective_batch_is_the_same():
    saved = _dump("oom=reduce", "data.batch_size=32", "accumulate=2")
    assert config_difference(saved, _dump("oom=reduce", "data.batch_size=64")) is None
    assert config_difference(saved, _dump("oom=reduce", "data.batch_size=128")) == (
        "effective data.batch_size: 64 there, 128 now"
    )
    plain = _dump("data.batch_size=32", "accumulate=2")
    assert config_difference(plain, _dump("data.batch_size=64")) is not None


def test_choose_reads_only(tmp_path):
    config, _ = load_config("quickstart", RUN)
    absent = tmp_path / "a" / "b"
    assert choose(absent, config).kind == "new" and not (tmp_path / "a").exists()
    with pytest.raises(UserError):
        (tmp_path / "f").write_text("x")
        choose(tmp_path / "f", config)


@pytest.mark.parametrize("existed", [True, False])
def test_a_new_run_that_cannot_write_its_first_files_leaves_the_folder_as_it_was(
    tmp_path, monkeypatch, existed
):
    """A folder the scheduler made stays (empty); one this run made goes again."""

    def no_space(*_args, **_kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(session, "write_config", no_space)
    run_dir = tmp_path / "job"
    if existed:
        run_dir.mkdir()
    with pytest.raises(UserError, match=r"--run-dir: cannot write the run directory .*space"):
        _run(run_dir)
    assert run_dir.is_dir() == existed
    if existed:
        assert list(run_dir.iterdir()) == []


def test_sigusr1_as_the_last_step_ends_exits_0_with_nothing_to_requeue(tmp_path, monkeypatch):
    """Slurm's warning signal that lands on the run's last step: the run completed, so the exit
    is 0 (a requeue would find a finished run and be refused) and the summary asks for none."""
    import signal

    from tui_trainer.headless import run_config

    monkeypatch.setenv("SLURM_JOB_ID", "4242")
    monkeypatch.delenv("SLURM_STEP_NUM_TASKS", raising=False)
    config, name = load_config("quickstart", [*TINY, "epochs=1", "progress.interval=1e-9"])

    def last_step(event) -> None:  # the last epoch is done, the run not yet ended
        if isinstance(event, EpochEnd) and event.epoch == event.epochs:
            os.kill(os.getpid(), signal.SIGUSR1)

    run_dir = tmp_path / "job"
    code = run_config(config, name, sinks=[last_step], run_dir=run_dir, rerun="tui-trainer run x")
    summary = json.loads((run_dir / "summary.json").read_text())
    assert (code, summary["status"]) == (0, "completed")
    assert "requeue" not in summary and "rerun_command" not in summary


def test_a_torchrun_restart_after_a_slurm_requeue_stop_ends_at_once(tmp_path, monkeypatch):
    """SIGUSR1 in a Slurm job ended the attempt (exit 138) and torchrun restarted the workers:
    the restart must not train on into the time limit; it ends with 138 too, for the requeue."""
    from tui_trainer.headless import run_config

    run_dir = tmp_path / "job"
    control = Control()
    _run(run_dir, StepLosses(control, stop_at=9), control)
    summary = json.loads((run_dir / "summary.json").read_text())
    (run_dir / "summary.json").write_text(json.dumps({**summary, "requeue": True}))
    before = _files(run_dir)
    monkeypatch.setenv("SLURM_JOB_ID", "4242")
    monkeypatch.setenv("TORCHELASTIC_RESTART_COUNT", "1")
    config, name = load_config("quickstart", RUN)
    assert run_config(config, name, run_dir=run_dir) == 138
    assert _files(run_dir) == before  # not continued
    monkeypatch.setenv("TORCHELASTIC_RESTART_COUNT", "0")  # the requeued job: continues
    assert run_config(config, name, run_dir=run_dir) == 0
