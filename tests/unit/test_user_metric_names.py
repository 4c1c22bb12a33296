"""`loss.name: module:Class`, `loss.kwargs` and `metrics:` in the schema; metric epoch names."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from tui_trainer.config import load_config
from tui_trainer.config.code_specs import metric_keys
from tui_trainer.config.schema import RunConfig
from tui_trainer.tui.curves import pick_metric
from tui_trainer.tui.widgets.epoch_table import metric_columns

F1 = "torchmetrics.classification:MulticlassF1Score"


def test_metric_names_are_the_lowercased_class_with_suffixes_for_repeats_and_task_names():
    names = [F1, F1, "my.mod:Accuracy", "a:Outer.Dice", "b:Top2"]
    assert metric_keys(names) == [
        "val_multiclassf1score",
        "val_multiclassf1score_2",
        "val_accuracy_2",  # the task writes val_accuracy itself
        "val_dice_2",
        "val_top2",
    ]


def test_metrics_take_strings_and_mappings():
    config = RunConfig.model_validate(
        {"metrics": [F1, {"name": "m:Top2", "kwargs": {"k": 2}}], "loss": {"name": "m:Focal"}}
    )
    assert [(m.name, m.kwargs) for m in config.metrics] == [(F1, {}), ("m:Top2", {"k": 2})]
    assert config.loss.name == "m:Focal" and config.loss.kwargs == {}


def test_a_user_loss_fits_segmentation_too_and_built_in_names_keep_their_checks():
    config = RunConfig.model_validate(
        {
            "task": "segmentation",
            "data": {"name": "shapes"},
            "model": {"name": "unet"},
            "loss": {"name": "m:Focal"},
        }
    )
    assert config.loss.name == "m:Focal"
    with pytest.raises(ValidationError, match="expected one of cross_entropy"):
        RunConfig.model_validate({"loss": {"name": "huber"}})
    with pytest.raises(ValidationError, match="'dice' is a segmentation loss"):
        RunConfig.model_validate({"loss": {"name": "dice"}})
    with pytest.raises(ValidationError, match=r"metrics\.0\.name"):
        RunConfig.model_validate({"metrics": ["no colon"]})


def test_the_epoch_table_and_the_plot_show_a_user_metric():
    row = {"train_loss": 1.0, "val_loss": 1.0, "val_accuracy": 0.5, "val_top2": 0.7, "lr": 0.1}
    assert "val_top2" in metric_columns(row)
    assert pick_metric(row, "val_top2", "classification") == "val_top2"


def test_the_arguments_filled_in_are_those_the_constructor_takes():
    import torchmetrics
    from torchmetrics.classification import MulticlassF1Score

    from tui_trainer.engine.user_code import constructor_params, task_kind

    assert {"task", "num_classes"} <= constructor_params(torchmetrics.F1Score)  # its __new__
    assert "task" not in constructor_params(MulticlassF1Score)
    assert task_kind("segmentation", 2) == "binary"  # one logit channel
    assert task_kind("classification", 2) == "multiclass"


def test_metrics_without_torchmetrics_say_how_to_install_it(monkeypatch):
    import importlib.util

    from tui_trainer.config.code_specs import metric_classes
    from tui_trainer.errors import UserError

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == "torchmetrics" else real(name, *a),
    )
    config, _ = load_config(
        "quickstart", ["metrics=[torchmetrics.classification:MulticlassF1Score]"]
    )
    with pytest.raises(
        UserError,
        match=r"metrics: torchmetrics is not installed: pip install 'tui-trainer\[metrics\]'",
    ):
        metric_classes(config.metrics)
