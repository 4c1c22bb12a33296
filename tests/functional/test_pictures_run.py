"""Pictures written by a training run: samples/ after each validation, the `samples` record,
exact replay unchanged, the same pictures after a resume, disk faults, mid-epoch validation."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from PIL import Image
from support.disk import small_disk
from support.runs import Recorder, run_preset

from tui_trainer.engine.pictures import recorder as recorder_module
from tui_trainer.runlog.control import Control, StopMode
from tui_trainer.runlog.events import EpochEnd, LogMessage, SamplesWritten
from tui_trainer.runlog.pictures import latest_samples, read_set
from tui_trainer.runlog.records import from_record


def _records(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


def test_each_epoch_writes_its_samples_and_the_mistakes_before_its_record(tmp_path):
    rec = Recorder()
    finished, run_dir = run_preset(tmp_path, ["pictures.samples=5", "pictures.size=40"],
                                   sinks=[rec])  # fmt: skip
    assert finished.status == "completed"
    folders = latest_samples(run_dir)
    assert [f.name for f in folders] == ["epoch-0001", "epoch-0002"]
    for n, folder in enumerate(folders, start=1):
        pset = read_set(folder)
        assert pset is not None and pset.kind == "samples" and pset.epoch == n
        assert [p.position for p in pset.pictures] == [36, 108, 180, 252, 324]  # 5 of 360
        assert [p.name for p in pset.pictures] == [f"val #{p.position}" for p in pset.pictures]
        for p in pset.pictures:
            with Image.open(folder / p.file) as img:
                assert img.size == (40, 40)
            assert p.true_id is not None and p.pred_id is not None and 0 < p.confidence <= 1
    mistakes = read_set(run_dir / "samples" / "mistakes")
    assert mistakes is not None and mistakes.epoch == 2 and len(mistakes.pictures) == 16
    assert all(not p.correct for p in mistakes.pictures)
    confidences = [p.confidence for p in mistakes.pictures]
    assert confidences == sorted(confidences, reverse=True)
    assert sum(map(sum, mistakes.confusion)) == 360
    # the record comes before the epoch's record, and reads back as the event
    kinds = [r["event"] for r in _records(run_dir) if r["event"] in ("samples", "epoch")]
    assert kinds == ["samples", "epoch", "samples", "epoch"]
    back = [from_record(r) for r in _records(run_dir) if r["event"] == "samples"]
    assert (
        back
        == rec.of(SamplesWritten)
        == [
            SamplesWritten(1, "samples/epoch-0001", "samples/mistakes"),
            SamplesWritten(2, "samples/epoch-0002", "samples/mistakes"),
        ]
    )
    assert not [p for p in (run_dir / "samples").iterdir() if p.name.startswith(".")]


def test_pictures_on_or_off_train_the_same_weights_and_metrics(tmp_path):
    on, on_dir = run_preset(tmp_path / "on", ["pictures.samples=8", "pictures.mistakes=16"])
    off, off_dir = run_preset(tmp_path / "off", ["pictures.samples=0", "pictures.mistakes=0"])
    assert not (off_dir / "samples").exists()
    assert (on_dir / "samples" / "mistakes").is_dir()
    a = torch.load(on_dir / "checkpoints" / "last.pt", weights_only=True)["model"]
    b = torch.load(off_dir / "checkpoints" / "last.pt", weights_only=True)["model"]
    assert all(torch.equal(a[k], b[k]) for k in a)
    strip = lambda s: {k: v for k, v in s["final"].items() if k != "epoch_seconds"}  # noqa: E731
    assert strip(on.summary) == strip(off.summary)


def test_a_resumed_run_writes_the_same_pictures_as_an_uninterrupted_one(tmp_path):
    _, whole = run_preset(tmp_path / "a", ["epochs=2"])
    control = Control()

    def stop_after_first(event):
        if isinstance(event, EpochEnd) and event.epoch == 1:
            control.request_stop(StopMode.EPOCH)

    stopped, run_dir = run_preset(tmp_path / "b", ["epochs=2"], control=control,
                                  sinks=[stop_after_first])  # fmt: skip
    assert stopped.summary["epochs_completed"] == 1
    assert not (run_dir / "samples" / "epoch-0002").exists()
    resumed, again = run_preset(tmp_path / "b", ["epochs=2"], resume=run_dir)
    assert resumed.status == "completed" and again == run_dir
    for folder in ("samples/epoch-0002", "samples/mistakes"):
        assert read_set(whole / folder) == read_set(run_dir / folder)
        for tile in sorted((whole / folder).glob("[0-9]*.png")):
            assert tile.read_bytes() == (run_dir / folder / tile.name).read_bytes()


def test_a_failed_write_warns_once_and_the_run_goes_on(tmp_path, monkeypatch):
    def no_space(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(recorder_module, "put_set", no_space)
    rec = Recorder()
    finished, run_dir = run_preset(tmp_path, ["epochs=3"], sinks=[rec])
    assert finished.status == "completed" and finished.summary["epochs_completed"] == 3
    warnings = [m for m in rec.messages("warning") if m.startswith("pictures:")]
    assert len(warnings) == 1 and "No space left on device" in warnings[0]
    assert not rec.of(SamplesWritten)
    assert "samples" not in {r["event"] for r in _records(run_dir)}


def test_pictures_leave_the_last_room_on_the_disk_to_the_results(tmp_path, monkeypatch):
    """Pictures never take the space a checkpoint or summary.json needs: with less free than
    the reserve they are skipped (one warning) and the run's results are whole."""
    from collections import namedtuple

    usage = namedtuple("usage", "total used free")
    full = usage(1 << 30, 1 << 30, 4096)  # 4 KiB free
    monkeypatch.setattr(recorder_module.shutil, "disk_usage", lambda _p: full)
    rec = Recorder()
    finished, run_dir = run_preset(tmp_path, ["epochs=2"], sinks=[rec])
    assert finished.status == "completed"
    warnings = [m for m in rec.messages("warning") if m.startswith("pictures:")]
    assert len(warnings) == 1 and "no space left for pictures: 4 KiB free" in warnings[0]
    assert not rec.of(SamplesWritten) and not (run_dir / "samples").exists()
    assert (run_dir / "summary.json").is_file() and (run_dir / "checkpoints" / "last.pt").is_file()


def test_on_a_full_disk_no_half_set_is_left_and_training_completes(tmp_path):
    from test_disk_faults import fill  # the same ballast the other disk tests use

    with small_disk(tmp_path / "disk", size="8m") as disk:
        state: dict = {}

        def on_event(event):
            if isinstance(event, EpochEnd) and event.epoch == 1 and "ballast" not in state:
                state["ballast"] = fill(disk)  # full before epoch 2's pictures
            if isinstance(event, LogMessage) and event.message.startswith("pictures:"):
                state["ballast"].unlink()  # room again for the checkpoints and epoch 3
                state["warned"] = event.message

        finished, run_dir = run_preset(disk, ["epochs=3"], sinks=[on_event])
        assert "no space left" in state["warned"].lower()
        assert finished.status == "completed", finished.error
        samples = run_dir / "samples"
        assert sorted(p.name for p in samples.iterdir()) == ["epoch-0001", "epoch-0003", "mistakes"]
        assert read_set(samples / "mistakes").epoch == 3
        for folder in samples.iterdir():
            pset = read_set(folder)
            assert pset is not None and all((folder / p.file).is_file() for p in pset.pictures)


def test_a_mid_epoch_validate_writes_no_pictures(tmp_path):
    rec = Recorder()
    finished, run_dir = run_preset(
        tmp_path, ["epochs=1", "steering=[{step: 5, change: validate}]"], sinks=[rec]
    )
    assert finished.status == "completed"
    assert [e.epoch for e in rec.of(SamplesWritten)] == [1]  # the epoch end's pass only
    assert [f.name for f in latest_samples(run_dir)] == ["epoch-0001"]


SEG = ["device=cpu", "epochs=1", "data.num_samples=64", "data.image_size=32",
       "data.batch_size=16", "model.kwargs={width: 8, depth: 2}", "pictures.size=32"]  # fmt: skip


def test_segmentation_pictures_show_three_panels_and_the_lowest_dice(tmp_path):
    finished, run_dir = run_preset(tmp_path, SEG, preset="shapes-unet", tiny=False)
    assert finished.status == "completed", finished.error
    pset = read_set(run_dir / "samples" / "epoch-0001")
    assert pset is not None and pset.task == "segmentation" and len(pset.pictures) == 8
    with Image.open(run_dir / "samples" / "epoch-0001" / "00.png") as img:
        assert img.size == (3 * 32 + 4, 32)  # image | true | predicted
    mistakes = read_set(run_dir / "samples" / "mistakes")
    dice = [p.score for p in mistakes.pictures]
    assert len(dice) == 13 and dice == sorted(
        dice
    )  # all 13 val images (< 16) and all(0.0 <= d <= 1.0 for d in dice)


@pytest.mark.slow
def test_two_processes_write_rank_zeros_pictures_once(tmp_path):
    import subprocess
    import sys

    from support.ddp import ROOT, ddp_env

    cmd = [sys.executable, "-m", "tui_trainer", "run", "quickstart", "epochs=1", "device=cpu",
           "data.batch_size=64", "--nproc", "2", "--out", str(tmp_path)]  # fmt: skip
    done = subprocess.run(cmd, cwd=ROOT, env=ddp_env(), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    run_dir = next(tmp_path.glob("quickstart/*"))
    pset = read_set(run_dir / "samples" / "epoch-0001")
    assert [p.position for p in pset.pictures] == [11, 33, 56, 78, 101, 123, 146, 168]  # of 180
    assert sum(map(sum, read_set(run_dir / "samples" / "mistakes").confusion)) == 180
    assert [r["event"] for r in _records(run_dir)].count("samples") == 1
