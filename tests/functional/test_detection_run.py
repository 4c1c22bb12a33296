"""Detection runs on the real engine: loss parts, exact resume, the frozen backbone, bad labels
refused before anything is written, and the quickstart detector learning."""

from __future__ import annotations

import json

import pytest
import torch
from support.cli import one_line_error
from support.detdata import write_yolo
from support.runs import StepLosses, epoch_lines, only_run_dir, run_preset

from tui_trainer.cli import main
from tui_trainer.config import load_config
from tui_trainer.engine.tasks.detection.shapes import generate_shapes
from tui_trainer.runlog.control import Control
from tui_trainer.session import execute

# A detection run of a few seconds: 48 generated images at 48 px.
SMALL = [
    "epochs=2",
    "device=cpu",
    "progress.interval=1e-9",
    "data.num_samples=48",
    "data.image_size=48",
    "data.batch_size=8",
]
# Every piece of state a detection resume must restore: the augmentation draws (flip, scale,
# colour, mosaic until half the run), accumulation, warm-up, the frozen backbone's phase with its
# own batch size, momentum.
HARD = [
    *SMALL,
    "epochs=3",
    "accumulate=2",
    "data.augment.hflip=true",
    "data.augment.scale=0.2",
    "data.augment.color=0.2",
    "data.augment.mosaic=0.5",
    "data.augment.mosaic_until=0.5",
    "scheduler.name=cosine",
    "scheduler.warmup_epochs=1",
    "freeze.enabled=true",
    "freeze.epochs=1",
    "freeze.batch_size=4",
    "optim.name=sgd",
    "optim.lr=0.01",
]


def _run(out, overrides, **kw):
    return run_preset(out, [*SMALL, *overrides], preset="quickstart-detect", tiny=False, **kw)


def test_epoch_and_step_lines_carry_the_loss_by_part(tmp_path):
    finished, run_dir = _run(tmp_path, [])
    assert finished.status == "completed", finished.error
    lines = epoch_lines(run_dir)
    parts = {"train_loss_classification", "train_loss_bbox_regression", "train_loss_bbox_ctrness"}
    for line in lines:
        assert parts <= set(line), line
        assert sum(line[p] for p in parts) == pytest.approx(line["train_loss"], rel=1e-4)
        assert {"val_loss", "val_map", "val_map50", "val_map75"} <= set(line)
        assert "train_accuracy" not in line and "" not in line
        assert line["best_metric"] == "val_map"
    steps = [
        json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines() if '"step"' in x
    ]
    steps = [s for s in steps if s["event"] == "step"]
    assert steps and all(
        sum(s["loss_parts"].values()) == pytest.approx(s["loss"], rel=1e-4) for s in steps
    )
    report = finished.report
    assert all(name in report for name in ("rectangle", "ellipse", "triangle", "AP50"))
    assert "┏" in report and "┌" in report  # the picture: predicted and true boxes


def test_a_classification_run_writes_no_loss_parts(tmp_path):
    finished, run_dir = run_preset(tmp_path, ["epochs=1", "progress.interval=1e-9"])
    assert finished.status == "completed"
    text = (run_dir / "metrics.jsonl").read_text()
    assert "loss_parts" not in text and "train_loss_" not in text


@pytest.mark.parametrize("stop_at", [3, 9])  # in the frozen, mosaic phase; after both end
def test_mid_epoch_resume_matches_an_uninterrupted_run(tmp_path, stop_at):
    preset = "quickstart-detect"
    config, name = load_config(preset, [*HARD, f"out={tmp_path / 'a'}"])
    whole = StepLosses()
    execute(config, name, sinks=[whole], control=Control())

    config, name = load_config(preset, [*HARD, f"out={tmp_path / 'b'}"])
    control = Control()
    first = StepLosses(control, stop_at=stop_at)
    assert execute(config, name, sinks=[first], control=control).status == "interrupted"
    run_dir = only_run_dir(tmp_path / "b")
    second = StepLosses()
    resumed = execute(config, name, sinks=[second], control=Control(), resume=run_dir)
    assert resumed.status == "completed", resumed.error

    assert max(first.losses) == stop_at and min(second.losses) == stop_at + 1
    assert {**first.losses, **second.losses} == whole.losses  # every step's loss, exactly
    a = torch.load(only_run_dir(tmp_path / "a") / "checkpoints" / "last.pt", weights_only=True)
    b = torch.load(run_dir / "checkpoints" / "last.pt", weights_only=True)
    for key, value in a["model"].items():
        assert torch.equal(value, b["model"][key]), key
    drop = lambda h: {k: v for k, v in h.items() if k != "epoch_seconds"}  # noqa: E731
    assert [drop(h) for h in a["progress"]["history"]] == [
        drop(h) for h in b["progress"]["history"]
    ]  # the epoch's loss parts too, summed across the interruption


def test_the_frozen_phase_trains_everything_but_the_backbone_body(tmp_path):
    """The seed's frozen backbone: the feature extractor (torchvision's `backbone.body`) stays;
    the feature pyramid and the heads train."""
    finished, run_dir = _run(tmp_path, ["freeze.enabled=true", "freeze.epochs=1", "epochs=1"])
    assert finished.status == "completed", finished.error
    from tui_trainer.engine.models import build_model

    config, _ = load_config("quickstart-detect", [*SMALL])
    torch.manual_seed(config.seed)
    state = torch.load(run_dir / "checkpoints" / "last.pt", weights_only=True)["model"]
    fresh = build_model(config.model, 3, 3, 48, task="detection").model.state_dict()
    # the same initial weights: the run seeds before building its model
    changed = {
        k for k, v in state.items() if v.dtype.is_floating_point and not torch.equal(v, fresh[k])
    }
    assert changed and not any(k.startswith("backbone.body.") for k in changed), sorted(changed)
    assert any(k.startswith("head.") for k in changed)
    assert any(k.startswith("backbone.fpn.") for k in changed)


def test_bad_labels_are_refused_before_anything_is_written(tmp_path, capsys, monkeypatch):
    index = generate_shapes(12, 32, 0, 3, 2, 0.25)
    root = tmp_path / "data"
    write_yolo(index, root)
    label = sorted((root / "labels" / "train").glob("*.txt"))[0]
    label.write_text("9 0.5 0.5 0.2 0.2\n")
    monkeypatch.chdir(tmp_path)
    code = main(["run", "quickstart-detect", "data.name=yolo", f"data.root={root}", "epochs=1"])
    assert code == 2
    line = one_line_error(capsys)
    assert f"{label}:1" in line and "class id 9" in line
    assert not (tmp_path / "runs").exists()


def test_a_detection_config_refuses_what_belongs_to_other_tasks(capsys):
    for override, expected in [
        ("model.name=resnet18", "model.name: 'resnet18' is a classification model"),
        ("loss.name=dice", "loss.name: 'dice' is a segmentation loss"),
        ("data.name=digits", "data.name: 'digits' is classification data"),
        ("data.augment.crop_padding=2", "data.augment.crop_padding: expected 0 for task detection"),
    ]:
        assert main(["run", "quickstart-detect", override]) == 2
        assert expected in one_line_error(capsys)
    assert main(["run", "quickstart", "data.augment.mosaic=0.5"]) == 2
    assert "detection only" in one_line_error(capsys)


@pytest.mark.slow
def test_the_quickstart_detector_learns_the_shapes(tmp_path):
    """The stated figure: val mAP50 >= 0.5 on the generated val split (README, quickstart)."""
    finished, run_dir = run_preset(
        tmp_path,
        ["device=cpu", "epochs=4", "data.num_samples=400"],
        preset="quickstart-detect",
        tiny=False,
    )
    assert finished.status == "completed", finished.error
    best = max(line["val_map50"] for line in epoch_lines(run_dir))
    assert best >= 0.5, [round(x["val_map50"], 3) for x in epoch_lines(run_dir)]
    assert (run_dir / "checkpoints" / "best.pt").is_file()


def test_check_reads_the_labels_and_says_the_split(tmp_path, capsys, monkeypatch):
    index = generate_shapes(20, 32, 0, 3, 2, 0.25)
    write_yolo(index, tmp_path / "data")
    monkeypatch.chdir(tmp_path)
    assert main(["check", "quickstart-detect", "data.name=yolo", "data.root=data"]) == 0
    assert "split: 15 train / 5 val images, by yolo's own train and val sets" in (
        capsys.readouterr().out
    )
    label = sorted((tmp_path / "data" / "labels" / "train").glob("*.txt"))[0]
    label.write_text("0 0.5 0.5 0.2 0.2\n0 0.5 0.5 -0.2 0.2\n")
    main(["check", "quickstart-detect", "data.name=yolo", "data.root=data"])
    out = capsys.readouterr().out
    assert f"warning: {label.relative_to(tmp_path)}:2: data.root: box width -0.2" in out
