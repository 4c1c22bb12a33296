"""The console side of detection without a screen: which metrics the plots draw, a detector's
loss parts in the curves, labels, the summary's final rows, the epoch table's fitting columns
and the setup screen's image size toggle."""

from __future__ import annotations

from pathlib import Path

import pytest
from support.scripted import ScriptedExecutor

from tui_trainer import formatting as fmt
from tui_trainer.config import load_config
from tui_trainer.runlog.control import Control
from tui_trainer.runlog.events import EpochEnd, RunFinished, RunStarted
from tui_trainer.tui.curves import Curves, pick_metrics
from tui_trainer.tui.form import uses_image_size
from tui_trainer.tui.model import RunModel
from tui_trainer.tui.screens.summary import packed, result_lines
from tui_trainer.tui.widgets.epoch_table import fitting_columns, metric_columns
from tui_trainer.tui.widgets.plot_panels import loss_titles, metric_titles

DETECTION_LINE = {
    "train_loss": 1.0,
    "train_loss_bbox_ctrness": 0.1,
    "train_loss_bbox_regression": 0.3,
    "train_loss_classification": 0.6,
    "val_loss": 1.2,
    "val_map": 0.41,
    "val_map50": 0.72,
    "val_map75": 0.38,
    "val_precision": 0.7,
    "val_recall": 0.65,
    "lr": 0.01,
}


def _fake_run(task: str) -> list[object]:
    events: list[object] = []
    ScriptedExecutor(epochs=3, steps=12, task=task)(
        None, "demo", sinks=[events.append], control=Control()
    )
    return events


def test_the_metric_plot_draws_the_tasks_plot_metrics_the_monitored_first() -> None:
    assert pick_metrics(DETECTION_LINE, "val_map", "detection") == ["val_map", "val_map50"]
    assert pick_metrics(DETECTION_LINE, "val_map50", "detection") == ["val_map50", "val_map"]
    assert pick_metrics(DETECTION_LINE, "val_loss", None) == ["val_map", "val_map50"]  # inferred
    seg = {"val_loss": 0.3, "val_dice": 0.8, "val_iou": 0.7}
    assert pick_metrics(seg, "val_dice", "segmentation") == ["val_dice", "val_iou"]
    cls = {"val_loss": 0.3, "val_accuracy": 0.9}
    assert pick_metrics(cls, "val_accuracy", "classification") == ["val_accuracy"]
    assert pick_metrics({"val_loss": 0.3}, "val_loss", None) == []


def test_live_detection_curves_hold_both_metrics_and_the_loss_parts() -> None:
    curves = Curves()
    for event in _fake_run("detection"):
        curves.apply(event)  # type: ignore[arg-type]
    assert (curves.task, curves.metric_name, curves.second_name) == (
        "detection",
        "val_map",
        "val_map50",
    )
    assert [x for x, _ in curves.metric] == [x for x, _ in curves.second] == [1.0, 2.0, 3.0]
    assert all(b > a for (_, a), (_, b) in zip(curves.metric, curves.second, strict=True))
    assert list(curves.parts) == ["bbox_ctrness", "bbox_regression", "classification"]
    total = curves.train.ys
    for name, share in (("bbox_ctrness", 0.1), ("classification", 0.6)):
        assert curves.parts[name].xs == curves.train.xs  # one point per progress event
        assert curves.parts[name].ys == pytest.approx([y * share for y in total])


def test_classification_curves_have_one_metric_and_no_parts() -> None:
    curves = Curves()
    for event in _fake_run("classification"):
        curves.apply(event)  # type: ignore[arg-type]
    assert curves.metric_names == ["val_accuracy"] and curves.second == []
    assert curves.parts == {}


def test_epochs_without_progress_take_the_parts_from_the_epoch_line() -> None:
    curves = Curves()
    for epoch in (1, 2):
        line = {k: v / epoch for k, v in DETECTION_LINE.items()}
        curves.apply(EpochEnd(epoch, 2, line, 0.1, True, "val_map", line["val_map"], epoch))
    assert curves.parts["classification"].xs == [1.0, 2.0]
    assert curves.parts["classification"].ys == pytest.approx([0.6, 0.3])


def test_records_give_the_task_parts_and_second_metric() -> None:
    """metrics.jsonl lines (watch, the runs browser): `started` names the task."""
    records = [
        {"event": "started", "task": "detection", "epochs": 2},
        {
            "event": "step",
            "epoch": 1,
            "epochs": 2,
            "step": 5,
            "steps": 10,
            "loss": 2.0,
            "lr": 0.01,
            "loss_parts": {"classification": 1.5, "bbox_regression": 0.5},
        },
        {"event": "epoch", "epoch": 1, **DETECTION_LINE, "is_best": True},
    ]
    curves = Curves.from_records(records, 2, "val_map75")  # a monitored metric of its own
    assert curves.metric_names == ["val_map75", "val_map"]  # the task's first beside it
    assert curves.parts["classification"].ys == [1.5]  # the step's (the epoch's comes later)
    assert curves.parts["bbox_regression"].xs == [0.5]


def test_labels_say_map_and_short_loss_parts() -> None:
    assert fmt.metric_label("val_map") == "val mAP"
    assert fmt.metric_label("val_map50") == "val mAP50"
    assert fmt.metric_label("val_accuracy") == "val acc"  # as before
    assert fmt.metric("val_map", 0.41234) == "0.4123"  # COCO's convention: not a percentage
    parts = ["classification", "bbox_regression", "bbox_ctrness", "loss_objectness", "dfl_loss"]
    assert [fmt.loss_part_label(p) for p in parts] == ["cls", "box", "ctr", "obj", "dfl_l"]


def test_titles_key_both_metrics_and_the_parts_within_80_columns() -> None:
    from textual.content import Content

    assert [Content.from_markup(t).plain for t in metric_titles("val_map", "val_map50")] == [
        "val mAP mAP50",
        "mAP mAP50",
    ]
    assert Content.from_markup(metric_titles("val_dice", "val_iou")[0]).plain == "val dice iou"
    titles = [Content.from_markup(t).plain for t in loss_titles(["classification", "bbox_ctrness"])]
    assert titles[0] == "Loss raw smoothed val ◆best cls ctr"
    assert len(titles[-1]) <= 33 - 6  # the loss panel at 80x24 has 33 columns, borders included


def test_the_summary_folds_loss_parts_and_keeps_rows_short() -> None:
    events = _fake_run("detection")
    end = events[-1]
    assert isinstance(end, RunFinished) and isinstance(events[0], RunStarted)
    model = RunModel(preset="demo")
    model.apply(events[0])
    text = result_lines(end, model).plain
    final = text[text.index("final") :].split("\nrun dir")[0]
    assert "train loss 0.2989 (ctr 0.0299, box 0.0897, cls 0.1793)" in final
    assert "train loss bbox" not in final and "None" not in final
    assert "val mAP 0.5826 · val mAP50 0.8326" in final
    assert all(len(line) <= 10 + 64 for line in final.splitlines())
    assert packed(["aaaa", "bbbb", "cccc"], width=11) == ["aaaa · bbbb", "cccc"]


def test_the_epoch_table_drops_extra_metrics_before_it_is_cut() -> None:
    names = metric_columns(DETECTION_LINE)
    assert names == [
        "train_loss",
        "val_loss",
        "val_map",
        "val_map50",
        "val_map75",
        "val_precision",
        "val_recall",
        "lr",
    ]
    widths = [2, 10, 8, 7, 9, 9, 13, 10, 8, 4, 1]  # ep, the metrics, time, marker
    wide = fitting_columns(names, widths, 200)
    assert wide == list(range(len(widths)))
    narrow = fitting_columns(names, widths, 76)
    shown = [names[i - 1] for i in narrow[1:-2]]
    assert shown == ["train_loss", "val_loss", "val_map", "val_map50", "val_map75", "lr"]
    assert narrow[-2:] == [9, 10]  # time and the best marker stay
    tiny = fitting_columns(names, widths, 20)  # never fits: only the optional ones go
    assert [names[i - 1] for i in tiny[1:-2]] == [
        "train_loss",
        "val_loss",
        "val_map",
        "val_map50",
        "lr",
    ]


def test_the_image_size_toggle_shows_for_detection(tmp_path: Path) -> None:
    preset = tmp_path / "det.yaml"
    preset.write_text("task: detection\ndata:\n  name: detshapes\nmodel:\n  name: fcos_tiny\n")
    config, _ = load_config(str(preset), [])
    assert config.data.image_size is None and uses_image_size(config)
    digits, _ = load_config(
        str(tmp_path / "det.yaml"),
        ["task=classification", "data.name=digits", "model.name=small_cnn"],
    )
    assert not uses_image_size(digits)
