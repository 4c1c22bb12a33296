"""A full disk (a real, small tmpfs) and a run directory deleted mid-run."""

from __future__ import annotations

import contextlib
import json
import shutil
import subprocess
from pathlib import Path

import pytest
import torch
from conftest import TINY

from tui_trainer.cli import main
from tui_trainer.config import load_config
from tui_trainer.engine.control import Control
from tui_trainer.engine.events import CheckpointSaved, EpochEnd, LogMessage
from tui_trainer.rundir import holder
from tui_trainer.session import execute
from tui_trainer.sinks.jsonl import JsonLines


@contextlib.contextmanager
def small_disk(path: Path, size: str = "3m"):
    """A tmpfs of `size` mounted at `path` (skips where mounting is not allowed)."""
    path.mkdir(parents=True, exist_ok=True)
    try:
        done = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
            capture_output=True,
            timeout=30,
        )
    except (OSError, subprocess.TimeoutExpired):
        pytest.skip("cannot run mount here")
    if done.returncode != 0:
        pytest.skip(f"mounting a tmpfs was refused: {done.stderr.decode().strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], capture_output=True, timeout=30)


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
        assert finished.status == "completed" and finished.summary["epochs_completed"] == 4
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
        assert summary["status"] == "completed" and summary["metrics_lines_dropped"] >= 1


def test_on_a_disk_too_small_for_two_copies_the_first_checkpoint_survives(tmp_path):
    """The disk holds one checkpoint (last.pt and best.pt share it) but never a second."""
    with small_disk(tmp_path / "disk", size="600k") as disk:
        config, name = load_config("quickstart", [*TINY, "epochs=3", f"out={disk}"])
        logs: list[LogMessage] = []
        finished = execute(config, name, sinks=[logs.append], control=Control())
        assert finished.status == "completed"
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
