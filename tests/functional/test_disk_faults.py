"""A full disk (a real, small tmpfs) and a run directory deleted mid-run."""

from __future__ import annotations

import json
import shutil
import signal
from pathlib import Path

import pytest
import torch
from support.disk import small_disk
from support.runs import TINY

from tui_trainer.cli import main
from tui_trainer.config import load_config
from tui_trainer.outcome import exit_code
from tui_trainer.rundir import holder
from tui_trainer.runlog.control import Control, StopMode
from tui_trainer.runlog.events import CheckpointSaved, EpochEnd, LogMessage, StepProgress
from tui_trainer.session import execute
from tui_trainer.sinks.jsonl import JsonLines


def fill(disk: Path, leave: int = 0) -> Path:
    """Fill `disk` with a ballast file, leaving about `leave` bytes free."""
    ballast = disk / "ballast"
    with open(ballast, "ab") as fh:
        block = b"\0" * 65536
        while True:
            free = shutil.disk_usage(disk).free - leave
            if free <= 0:
                break
            try:
                fh.write(block[: max(min(free, len(block)), 4096)])
                fh.flush()
            except OSError:
                break
    return ballast


def _lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_a_full_disk_is_reported_training_goes_on_and_the_last_checkpoint_stays(tmp_path):
    with small_disk(tmp_path / "disk") as disk:
        config, name = load_config("quickstart", [*TINY, "epochs=4", f"out={disk}"])
        logs: list[LogMessage] = []
        state: dict = {}

        def on_event(event):
            if isinstance(event, LogMessage):
                logs.append(event)
            if isinstance(event, CheckpointSaved) and "ballast" not in state:
                state["ballast"] = fill(disk)  # the disk is full after epoch 1's checkpoint
            if isinstance(event, EpochEnd) and event.epoch == 3:
                state["ballast"].unlink()  # space again: writing resumes

        finished = execute(config, name, sinks=[on_event], control=Control())
        assert finished.summary["epochs_completed"] == 4
        best_epoch = finished.summary["best"]["epoch"]
        if best_epoch in (2, 3):  # best.pt could not be written then: the best weights are lost
            assert finished.status == "failed" and "checkpoints/best.pt" in finished.error
        else:  # last.pt (and best.pt) written again at epoch 4: nothing is missing
            assert finished.status == "completed"
        run_dir = next(disk.glob("quickstart/*"))
        warnings = [e.message for e in logs if e.level == "warning"]
        assert any("last.pt not written: no space left on device" in w for w in warnings)
        assert any("the previous one is intact" in w for w in warnings)
        assert any("metrics.jsonl" in w and "no space left" in w for w in warnings)
        assert any("written again" in w for w in warnings)
        records = _lines(run_dir / "metrics.jsonl")  # every line whole
        assert [r["epoch"] for r in records if r["event"] == "epoch"][-1] == 4
        last = torch.load(run_dir / "checkpoints" / "last.pt", weights_only=True)
        assert last["progress"]["epoch"] == 4  # written again once space came back
        assert not list(run_dir.rglob("*.tmp"))
        summary = json.loads((run_dir / "summary.json").read_text())
        assert summary["status"] == finished.status and summary["metrics_lines_dropped"] >= 1


def test_on_a_disk_too_small_for_two_copies_the_first_checkpoint_survives(tmp_path):
    """The disk holds one checkpoint (last.pt and best.pt share it) but never a second."""
    with small_disk(tmp_path / "disk", size="600k") as disk:
        config, name = load_config("quickstart", [*TINY, "epochs=3", f"out={disk}"])
        logs: list[LogMessage] = []
        finished = execute(config, name, sinks=[logs.append], control=Control())
        # Training went on, but the final weights are not on disk: not a success.
        assert finished.status == "failed"
        assert finished.error is not None and finished.error.startswith(
            "checkpoint not saved: no space left on device: checkpoints/last.pt"
        )
        assert "checkpoints/last.pt on disk is older (epoch 1, step " in finished.error
        run_dir = next(disk.glob("quickstart/*"))
        last = torch.load(run_dir / "checkpoints" / "last.pt", weights_only=True)
        assert last["progress"]["epoch"] == 1
        assert (run_dir / "checkpoints" / "best.pt").stat().st_ino == (
            run_dir / "checkpoints" / "last.pt"
        ).stat().st_ino
        assert any(
            "not written: no space left on device" in getattr(e, "message", "") for e in logs
        )
        assert not list(run_dir.rglob("*.tmp"))
        assert json.loads((run_dir / "summary.json").read_text())["epochs_completed"] == 3


def test_a_disk_with_no_room_for_config_yaml_is_exit_2_and_leaves_nothing(tmp_path, capsys):
    with small_disk(tmp_path / "disk", size="256k") as disk:
        (disk / "quickstart").mkdir()
        fill(disk)
        assert main(["run", "quickstart", *TINY, "--out", str(disk)]) == 2
        err = capsys.readouterr().err.strip()
        assert "no space left on device" in err and len(err.splitlines()) == 1
        assert list((disk / "quickstart").iterdir()) == []


def test_a_metrics_line_that_does_not_fit_leaves_whole_lines(tmp_path):
    with small_disk(tmp_path / "disk", size="64k") as disk:
        log = JsonLines(disk / "metrics.jsonl")
        log.append({"event": "a"})
        fill(disk, leave=0)
        with pytest.raises(OSError):
            log.append({"event": "b", "pad": "x" * 200_000})
        (disk / "ballast").unlink()
        log.append({"event": "c"})
        log.close()
        assert [r["event"] for r in _lines(disk / "metrics.jsonl")] == ["a", "c"]


def test_a_partial_last_line_is_repaired_on_open(tmp_path):
    path = tmp_path / "metrics.jsonl"
    path.write_text('{"event": "a"}\n{"event": "b", "x"')
    log = JsonLines(path)
    log.append({"event": "c"})
    log.close()
    assert [r["event"] for r in _lines(path)] == ["a", "c"]


def test_a_run_directory_deleted_mid_run_is_recreated_and_stays_resumable(tmp_path, capsys):
    config, name = load_config("quickstart", [*TINY, "epochs=3", f"out={tmp_path}"])
    logs: list[LogMessage] = []
    seen: dict = {}

    def delete_after_epoch_one(event):
        if isinstance(event, LogMessage):
            logs.append(event)
        if isinstance(event, EpochEnd) and event.epoch == 1:
            seen["run_dir"] = run_dir = next(tmp_path.glob("quickstart/*"))
            shutil.rmtree(run_dir)
        if isinstance(event, EpochEnd) and event.epoch == 2:
            seen["holder"] = holder(seen["run_dir"])

    finished = execute(config, name, sinks=[delete_after_epoch_one], control=Control())
    run_dir = seen["run_dir"]
    assert finished.status == "completed"
    assert any("was deleted while the run was writing it: recreated" in e.message for e in logs)
    assert seen["holder"] is not None  # the recreated directory is locked again
    assert {p.name for p in run_dir.iterdir()} >= {
        "config.yaml",
        "metrics.jsonl",
        "metrics.csv",
        "summary.json",
        "checkpoints",
    }
    epochs = [r["epoch"] for r in _lines(run_dir / "metrics.jsonl") if r["event"] == "epoch"]
    assert epochs == [1, 2, 3]  # the history before the deletion is written back
    assert (
        torch.load(run_dir / "checkpoints" / "last.pt", weights_only=True)["progress"]["epoch"] == 3
    )
    capsys.readouterr()
    assert main(["run", "--resume", str(run_dir), "epochs=4"]) == 0  # resumable, as before


def test_a_run_directory_moved_mid_run_says_where_it_went(tmp_path):
    """A move is told apart from a deletion: the log names the new place, which keeps the
    earlier lines, and the run goes on in a recreated directory at the old path."""
    config, name = load_config("quickstart", [*TINY, "epochs=3", f"out={tmp_path}"])
    logs: list[LogMessage] = []
    seen: dict = {}

    def move_after_epoch_one(event):
        if isinstance(event, LogMessage):
            logs.append(event)
        if isinstance(event, EpochEnd) and event.epoch == 1:
            seen["run_dir"] = run_dir = next(tmp_path.glob("quickstart/*"))
            seen["moved"] = run_dir.rename(tmp_path / "moved-away")

    finished = execute(config, name, sinks=[move_after_epoch_one], control=Control())
    assert finished.status == "completed"
    moved = seen["moved"]
    said = [e.message for e in logs if "was moved to" in e.message]
    assert said and str(moved) in said[0] and "are gone" not in said[0]
    assert (moved / "metrics.jsonl").exists() and (seen["run_dir"] / "summary.json").exists()


def test_a_run_directory_replaced_mid_run_stops_the_run(tmp_path):
    config, name = load_config("quickstart", [*TINY, "epochs=3", f"out={tmp_path}"])

    def replace_after_epoch_one(event):
        if isinstance(event, EpochEnd) and event.epoch == 1:
            run_dir = next(tmp_path.glob("quickstart/*"))
            shutil.rmtree(run_dir)
            run_dir.write_text("someone else's file")

    finished = execute(config, name, sinks=[replace_after_epoch_one], control=Control())
    assert finished.status == "failed"
    assert "deleted or replaced" in (finished.error or "")
    assert finished.summary["epochs_completed"] < 3


def test_a_run_that_cannot_save_its_weights_fails_and_its_last_line_says_the_space_needed(
    tmp_path, capsys
):
    """The issue's case: training goes on on a full disk, but never reports plain success."""
    with small_disk(tmp_path / "disk", size="1m") as disk:
        (disk / "quickstart").mkdir()
        fill(disk, leave=96 * 1024)  # room for config.yaml and the logs, never a checkpoint
        code = main(["run", "quickstart", *TINY, "--out", str(disk)])
        out = capsys.readouterr().out
        assert code == 1
        last = out.rstrip().splitlines()[-1]
        assert last.startswith("error: checkpoint not saved: no space left on device: ")
        assert "checkpoints/last.pt and checkpoints/best.pt need about " in last
        assert " MB free in " in last and last.endswith("no checkpoint on disk")
        run_dir = next(disk.glob("quickstart/*"))
        assert not list((run_dir / "checkpoints").iterdir())
        summary = json.loads((run_dir / "summary.json").read_text())
        assert summary["status"] == "failed" and summary["epochs_completed"] == 2
        assert summary["error"] == summary["checkpoint_missing"] == last.removeprefix("error: ")
        needed = float(last.split("need about ")[1].split(" MB")[0])
        assert needed >= 0.1  # the tiny CNN with its Adam moments is a few hundred kB


def test_a_stop_on_a_full_disk_says_there_is_no_checkpoint_instead_of_an_intact_one(tmp_path):
    """SIGTERM (a stop at the next step) with the disk full before anything was saved."""
    with small_disk(tmp_path / "disk", size="1m") as disk:
        config, name = load_config("quickstart", [*TINY, f"out={disk}"])
        control = Control()
        logs: list[LogMessage] = []
        filled: list[Path] = []

        def on_event(event):
            if isinstance(event, LogMessage):
                logs.append(event)
            if isinstance(event, StepProgress) and not filled:
                filled.append(fill(disk))
                control.request_stop(StopMode.STEP, status="interrupted", signal=signal.SIGTERM)

        finished = execute(config, name, sinks=[on_event], control=control)
        assert finished.status == "failed"
        assert exit_code(finished.status, control.exit_signal) == 1  # not 143: nothing to resume
        assert finished.error is not None and finished.error.endswith("no checkpoint on disk")
        warnings = [e.message for e in logs if e.level == "warning"]
        assert any(
            w.endswith(
                "summary.json not written: no space left on device "
                "(there is no earlier version); training goes on"
            )
            for w in warnings
        ), warnings
        assert any("last.pt not written" in w and "no earlier one exists" in w for w in warnings)
        assert not any("intact" in w for w in warnings), warnings
