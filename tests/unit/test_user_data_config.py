"""`data.name: module:Class` in the schema: accepted for every task, other strings refused in
the literal's words; data.kwargs / data.val_kwargs (issue 25, the data part)."""

from __future__ import annotations

import pytest

from tui_trainer.config import load_config
from tui_trainer.config.tasks import task_mismatch
from tui_trainer.errors import UserError


def test_a_module_class_name_is_accepted_with_its_kwargs():
    config, _ = load_config(
        "quickstart",
        ["data.name=mylab.data:CsvImages", "data.kwargs={csv: labels.csv}", "data.val_kwargs={}"],
    )
    assert config.data.name == "mylab.data:CsvImages"
    assert config.data.kwargs == {"csv": "labels.csv"} and config.data.val_kwargs == {}
    default, _ = load_config("quickstart", [])
    assert default.data.kwargs == {} and default.data.val_kwargs is None


@pytest.mark.parametrize("name", ["nope", "mylab.data:", ":Class", "my lab:Class", "a.b:C-D"])
def test_other_names_are_refused_listing_the_built_ins_and_the_code_form(name):
    with pytest.raises(UserError) as info:
        load_config("quickstart", [f"data.name='{name}'"])
    text = str(info.value)
    assert "data.name" in text and "'digits', 'fake'" in text and "'voc'" in text
    assert "package.module:Class" in text


@pytest.mark.parametrize("task", ["classification", "segmentation", "detection"])
def test_a_user_dataset_serves_the_configs_task(task):
    loss = {"classification": "cross_entropy", "segmentation": "dice", "detection": "detector"}
    assert task_mismatch(task, "mylab.data:Mine", "mylab.models:Net", loss[task]) is None
    assert task_mismatch(task, "shapes" if task != "segmentation" else "digits", "x:Y", loss[task])


def test_one_class_is_allowed_for_a_user_dataset():
    config, _ = load_config("quickstart", ["data.name=mylab.data:Mine", "data.num_classes=1"])
    assert config.data.num_classes == 1
    with pytest.raises(UserError, match=r"data\.num_classes"):
        load_config("quickstart", ["data.num_classes=1"])


def test_check_says_the_split_is_known_once_the_code_runs():
    from tui_trainer.engine.data.split_plan import plan_split

    config, _ = load_config("quickstart", ["data.name=mylab.data:Mine"])
    assert plan_split(config) is None
