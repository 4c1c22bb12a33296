"""One dataset table (`config.datasets.DATASETS`): the schema, the task table, `check` and the
engine's data builders all read it, so they cannot disagree about which data sources exist."""

from __future__ import annotations

from typing import get_args

import pytest
import torch

from tui_trainer.config.checks import ROOT_DATASETS
from tui_trainer.config.datasets import DATASETS, DataName
from tui_trainer.config.schema import RunConfig
from tui_trainer.config.tasks import TASKS
from tui_trainer.engine.data import build_data
from tui_trainer.engine.tasks import ENGINE_TASKS

CPU = torch.device("cpu")


def test_the_engine_builds_exactly_the_tables_data_sources_each_under_its_task():
    assert set(ENGINE_TASKS) == set(TASKS)
    for task, row in ENGINE_TASKS.items():
        assert set(row.datasets) == set(TASKS[task].data)
        assert set(row.datasets) == {n for n, spec in DATASETS.items() if spec.task == task}
    built = [name for row in ENGINE_TASKS.values() for name in row.datasets]
    assert sorted(built) == sorted(DATASETS)  # every name once, none left out


def test_the_schema_task_table_and_check_read_the_same_names():
    assert get_args(DataName) == tuple(DATASETS)
    assert {n for spec in TASKS.values() for n in spec.data} == set(DATASETS)
    assert {n for n, spec in DATASETS.items() if spec.reads_root} == ROOT_DATASETS


@pytest.mark.parametrize(
    "name,overrides",
    [
        ("digits", {}),
        ("fake", {"num_samples": 16}),
        ("shapes", {"num_samples": 8}),
    ],
)
def test_in_memory_sources_build_at_the_tables_image_size_and_class_count(name, overrides):
    spec = DATASETS[name]
    model = "small_cnn" if spec.task == "classification" else "unet"
    config = RunConfig.model_validate(
        {"task": spec.task, "data": {"name": name, **overrides}, "model": {"name": model}}
    )
    data = build_data(config, CPU)
    assert spec.in_memory
    assert data.image_size == spec.image_size
    assert data.num_classes == (spec.num_classes or spec.default_classes)
    if spec.samples is not None:
        assert data.train_samples + data.val_samples == spec.samples
