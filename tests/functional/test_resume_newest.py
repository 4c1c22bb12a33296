"""`--resume RUN_DIR` continues from the newest complete checkpoint, by recorded position."""

from __future__ import annotations

import shutil
from pathlib import Path

import torch
from support.runs import TINY

from tui_trainer.config import load_config
from tui_trainer.engine import latest
from tui_trainer.runlog.control import Control, StopMode
from tui_trainer.runlog.events import CheckpointSaved, LogMessage, StepProgress
from tui_trainer.session import check_resume, execute

EVERY = [*TINY, "epochs=3", "checkpoint.every_steps=5", "checkpoint.keep=3"]


def _killed_image(tmp_path: Path) -> tuple[Path, int]:
    """A run directory as a SIGKILL leaves it just after a periodic checkpoint newer than
    last.pt (the files on disk at that instant, copied), and that checkpoint's global step."""
    image = tmp_path / "killed"
    seen: dict = {}

    def snapshot(event) -> None:
        if not isinstance(event, CheckpointSaved) or "step" in seen:
            return
        if event.reason == "epoch" and event.path.endswith("last.pt"):
            seen["last"] = event.global_step
        elif event.reason == "periodic" and "last" in seen and event.global_step > seen["last"]:
            seen["step"] = event.global_step
            shutil.copytree(Path(event.path).parent.parent, image)

    config, name = load_config("quickstart", [*EVERY, f"out={tmp_path / 'runs'}"])
    execute(config, name, sinks=[snapshot], control=Control())
    assert seen["step"] > seen["last"]
    return image, seen["step"]


class FirstStep:
    """Records the first step a resumed run trains, then stops it there."""

    def __init__(self, control: Control) -> None:
        self.control, self.first, self.logs = control, None, []

    def __call__(self, event) -> None:
        if isinstance(event, LogMessage):
            self.logs.append(event.message)
        if isinstance(event, StepProgress) and self.first is None:
            self.first = event.global_step
            self.control.request_stop(StopMode.STEP, status="interrupted")


def _resume(resume: Path, tmp_path: Path, overrides: tuple[str, ...] = ()) -> FirstStep:
    config, name = load_config("quickstart", [*EVERY, *overrides, f"out={tmp_path / 'runs'}"])
    control = Control()
    first = FirstStep(control)
    execute(config, name, sinks=[first], control=control, resume=resume)
    return first


def test_resume_of_a_killed_run_continues_from_the_newer_periodic_checkpoint(tmp_path):
    image, step = _killed_image(tmp_path)
    last = torch.load(image / "checkpoints" / "last.pt", weights_only=True)
    assert last["progress"]["global_step"] < step  # the old code resumed from here
    check_resume(image)  # the console's resume check reads the same choice
    first = _resume(image, tmp_path)
    assert first.first == step + 1  # no step is trained twice
    periodic = f"step_{step:08d}.pt"
    assert any(m.startswith(f"resuming from checkpoints/{periodic}") for m in first.logs)
    assert any(m.startswith(f"resumed from {image / 'checkpoints' / periodic}") for m in first.logs)


def test_resuming_last_pt_by_name_says_that_a_newer_checkpoint_exists(tmp_path):
    image, step = _killed_image(tmp_path)
    first = _resume(image / "checkpoints" / "last.pt", tmp_path)
    assert first.first is not None and first.first < step  # as asked
    assert any(
        m.startswith(f"a newer checkpoint exists: checkpoints/step_{step:08d}.pt")
        for m in first.logs
    ), first.logs


def test_a_resume_that_went_back_outranks_the_line_it_left(tmp_path):
    """Resumed from an older periodic checkpoint, the new line's files are newer than the
    abandoned line's later ones (the run segment first, then the position), and retention
    deletes the abandoned line's files first, never the one just written."""
    image, _ = _killed_image(tmp_path)
    checkpoints = image / "checkpoints"
    old = sorted(p.name for p in checkpoints.glob("step_*.pt"))  # step 10 ... 25
    back = checkpoints / old[0]
    start = latest.read_position(back).global_step
    config, name = load_config(
        "quickstart", [*EVERY, "checkpoint.keep=2", f"out={tmp_path / 'runs'}"]
    )
    control = Control()

    def stop(event) -> None:  # progress events are throttled by time: stop on a save, exact
        if isinstance(event, CheckpointSaved) and event.global_step == start + 5:
            control.request_stop(StopMode.STEP, status="interrupted")

    execute(config, name, sinks=[stop], control=control, resume=back)
    newest = latest.candidates(checkpoints)[0]
    assert (newest.path.name, newest.global_step) == ("last.pt", start + 5)
    rewritten = latest.read_position(checkpoints / f"step_{start + 5:08d}.pt")
    assert rewritten is not None and rewritten.segment > 0  # the new line's, kept
    abandoned = [latest.read_position(checkpoints / n) for n in old[2:]]
    assert all(a is None or a.segment < rewritten.segment for a in abandoned)
    assert back.is_file()  # the checkpoint resumed from is never deleted
    assert latest.newest(checkpoints)[0] == checkpoints / "last.pt"
