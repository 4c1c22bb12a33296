"""A user's own loss (`loss.name: module:Class`) and metrics (`metrics:` torchmetrics classes),
written in a temporary module: they train, show in epoch lines, pick best.pt, are reported by
eval, compare and the plots, and bad names or arguments are one line with nothing written."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from support.cli import one_line_error
from support.runs import epoch_lines, run_preset
from support.user_loss_metrics import write_module

from tui_trainer.cli import main
from tui_trainer.compare import render_text
from tui_trainer.runlog import read_runs
from tui_trainer.runlog.reader import read_run
from tui_trainer.tui.curves import pick_metric

F1 = "torchmetrics.classification:MulticlassF1Score"


@pytest.fixture
def mod(tmp_path: Path) -> str:
    """The name of the temporary module holding the user's classes."""
    folder = tmp_path / "usercode"
    folder.mkdir()
    return write_module(folder)


def step_losses(run_dir: Path) -> dict[int, float]:
    lines = map(json.loads, (run_dir / "metrics.jsonl").read_text().splitlines())
    return {r["global_step"]: r["loss"] for r in lines if r["event"] == "step"}


def test_a_user_loss_trains_with_its_kwargs(mod, tmp_path):
    """Scaling the loss by 3 makes the first step's loss exactly 3 times cross-entropy's; a loss
    weighting one class 50 times over shifts the predictions onto that class."""
    rate = f"metrics=[{{name: {mod}:PredictedRate, kwargs: {{which: 3}}}}]"
    _, plain = run_preset(tmp_path / "plain", ["epochs=1", rate])
    _, scaled = run_preset(
        tmp_path / "scaled", ["epochs=1", f"loss.name={mod}:ScaledCE", "loss.kwargs={scale: 3}"]
    )
    assert step_losses(scaled)[1] == pytest.approx(3 * step_losses(plain)[1], rel=1e-5)
    _, heavy = run_preset(
        tmp_path / "heavy",
        ["epochs=1", rate, f"loss.name={mod}:HeavyClassCE", "loss.kwargs={heavy: 3}"],
    )
    plain_rate = epoch_lines(plain)[-1]["val_predictedrate"]
    heavy_rate = epoch_lines(heavy)[-1]["val_predictedrate"]
    assert plain_rate < 0.3 < heavy_rate, (plain_rate, heavy_rate)


@pytest.fixture
def f1_run(mod, tmp_path) -> Path:
    """3 epochs with an F1 score and an error rate (higher_is_better False), F1 monitored."""
    metrics = f"metrics=[{F1}, {{name: {mod}:ErrorRate}}]"
    overrides = ["epochs=3", metrics, "checkpoint.monitor=val_multiclassf1score"]
    finished, run_dir = run_preset(tmp_path / "runs", overrides)
    assert finished.status == "completed", finished.error
    return run_dir


def test_a_torchmetrics_f1_is_in_epoch_lines_and_picks_best_pt(f1_run, capsys):
    rows = epoch_lines(f1_run)
    f1 = [r["val_multiclassf1score"] for r in rows]
    assert all(0 <= v <= 1 for v in f1) and len(set(f1)) == 3
    assert all("val_errorrate" in r for r in rows)
    best_epoch = max(range(3), key=lambda i: f1[i]) + 1
    summary = json.loads((f1_run / "summary.json").read_text())
    assert summary["best"] == {
        "metric": "val_multiclassf1score",
        "value": f1[best_epoch - 1],
        "epoch": best_epoch,
    }
    best = torch.load(f1_run / "checkpoints" / "best.pt", weights_only=False)
    assert best["progress"]["history"][-1]["epoch"] == best_epoch
    assert "mode: max" in (f1_run / "config.yaml").read_text()  # higher_is_better, recorded
    # eval reproduces the user metrics on best.pt
    assert main(["eval", str(f1_run)]) == 0
    assert "val_multiclassf1score" in capsys.readouterr().out
    [folder] = sorted((f1_run / "eval").iterdir())
    metrics = json.loads((folder / "eval.json").read_text())["metrics"]
    assert metrics["val_multiclassf1score"] == pytest.approx(f1[best_epoch - 1], abs=1e-6)
    assert "val_errorrate" in metrics
    # the runs browser, compare and the plots see the new names
    record = read_run(f1_run)
    assert record.monitored == ("val_multiclassf1score", "max")
    assert pick_metric(rows[-1], record.monitored[0], "classification") == "val_multiclassf1score"
    text = render_text(read_runs([str(f1_run), str(f1_run)]))
    assert "best val_multiclassf1score" in text and "final val_errorrate" in text


def test_a_metric_that_is_better_low_picks_the_minimum(mod, tmp_path):
    overrides = ["epochs=3", f"metrics=[{mod}:ErrorRate]", "checkpoint.monitor=val_errorrate"]
    _, run_dir = run_preset(tmp_path / "runs", overrides)
    errors = [r["val_errorrate"] for r in epoch_lines(run_dir)]
    assert len(set(errors)) == 3
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["best"]["value"] == min(errors)  # by name alone "max" would pick the worst
    assert read_run(run_dir).monitored == ("val_errorrate", "min")


def test_the_same_class_twice_gets_a_suffix(mod, tmp_path):
    metrics = f"metrics=[{F1}, {{name: {F1}, kwargs: {{average: weighted}}}}]"
    _, run_dir = run_preset(tmp_path / "runs", ["epochs=1", metrics])
    row = epoch_lines(run_dir)[0]
    assert "val_multiclassf1score" in row and "val_multiclassf1score_2" in row


def test_a_per_class_vector_is_averaged(mod, tmp_path):
    metrics = f"metrics=[{{name: {F1}, kwargs: {{average: none}}}}, {F1}]"
    _, run_dir = run_preset(tmp_path / "runs", ["epochs=1", metrics])
    row = epoch_lines(run_dir)[0]
    assert row["val_multiclassf1score"] == pytest.approx(row["val_multiclassf1score_2"], abs=1e-6)


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        (["loss.name=nosuchmodule_h2:Loss"], "loss.name: cannot import 'nosuchmodule_h2:Loss'"),
        (["loss.name=huber"], "loss.name: expected one of cross_entropy | bce"),
        (["loss.name={mod}:ScaledCE", "loss.kwargs={bogus: 1}"], "loss.kwargs: "),
        (["loss.name={mod}:NotAMetric"], "is not a torch.nn.Module subclass"),
        (["metrics=[{mod}:ScaledCE]"], "metrics[0]: class "),
        (["metrics=[{mod}:NotAMetric]"], "is not a torchmetrics.Metric subclass"),
        (["metrics=[{mod}:Missing]"], "metrics[0]: module 'h2_user_code' has no attribute"),
        (["metrics=[not a class]"], "metrics.0.name"),
        ([f"metrics=[{{name: {F1}, kwarg: {{}}}}]"], "did you mean 'metrics.0.kwargs'?"),
        ([f"metrics=[{{name: {F1}, kwargs: {{average: bogus}}}}]"], "metrics[0].kwargs: "),
        (
            ["preset=quickstart-detect", "metrics=[{F1}]"],
            "metrics: task detection sums its detector's own losses",
        ),
        (
            ["preset=quickstart-detect", "loss.name={mod}:ScaledCE"],
            "loss.name: task detection sums its detector's own losses",
        ),
    ],
)
def test_bad_names_and_kwargs_are_one_line_with_nothing_written(
    mod, tmp_path, capsys, overrides, expected
):
    preset = "quickstart"
    args = []
    for item in overrides:
        item = item.replace("{mod}", mod).replace("{F1}", F1)
        if item.startswith("preset="):
            preset = item.partition("=")[2]
        else:
            args.append(item)
    out = tmp_path / "runs"
    code = main(["run", preset, "epochs=1", "device=cpu", *args, f"--out={out}"])
    assert code == 2
    err = one_line_error(capsys)
    assert expected in err, err
    assert not out.exists() or not any(out.rglob("*"))


SEG = [
    "device=cpu",
    "epochs=1",
    "data.num_samples=64",
    "data.image_size=32",
    "data.batch_size=16",
    "data.num_classes=4",
    "model.kwargs={width: 8, depth: 2}",
]


def test_segmentation_takes_a_user_loss_and_metric(mod, tmp_path):
    """Logits (N, C, H, W) and masks (N, H, W) reach the user's loss and metric as they are."""
    jaccard = "torchmetrics.classification:MulticlassJaccardIndex"
    _, plain = run_preset(
        tmp_path / "plain", [*SEG, "loss.name=cross_entropy"], preset="shapes-unet", tiny=False
    )
    overrides = [
        *SEG,
        f"loss.name={mod}:ScaledCE",
        "loss.kwargs={scale: 2}",
        f"metrics=[{jaccard}]",
    ]
    finished, run_dir = run_preset(tmp_path / "user", overrides, preset="shapes-unet", tiny=False)
    assert finished.status == "completed", finished.error
    assert step_losses(run_dir)[1] == pytest.approx(2 * step_losses(plain)[1], rel=1e-5)
    row = epoch_lines(run_dir)[0]
    assert 0 <= row["val_multiclassjaccardindex"] <= 1
