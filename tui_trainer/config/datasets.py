"""The dataset table: every `data.name` and the facts about it that more than one module needs
(no torch here).

The schema takes its `data.name` values from it, the task table (`config.tasks.TASKS`) its
`data` column, `check` which sources read `data.root`, the engine's sources their default
image size and class count; `tests/unit/test_dataset_table.py` holds the engine's builders
(`engine.tasks.ENGINE_TASKS[task].datasets`) to exactly these names. A new data source is a
row here and a builder in its task's package.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal, get_args

DataName = Literal[
    "digits",
    "fake",
    "cifar10",
    "imagefolder",
    "shapes",
    "segfolder",
    "detshapes",
    "yolo",
    "coco",
    "voc",
]
"""The `data.name` values (a Literal for the schema; the table below must list exactly these)."""


@dataclass(frozen=True)
class DatasetSpec:
    """What is known about one data source before any of it is read."""

    task: str  # the task it serves (a key of config.tasks.TASKS)
    in_memory: bool  # held in memory as tensors (else decoded from files by loader workers)
    reads_root: bool  # read from folders under data.root
    generated: bool  # made from the seed (data.num_samples images)
    image_size: int  # the image side when data.image_size is not set
    num_classes: int | None = None  # fixed by the data (None: from the config or the folders)
    default_classes: int | None = None  # generated data: classes when data.num_classes is unset
    samples: int | None = None  # images in the whole set, where fixed


DATASETS: dict[str, DatasetSpec] = {
    "digits": DatasetSpec(
        "classification", True, False, False, 8, num_classes=10, samples=1797
    ),  # scikit-learn's load_digits (tests check the count against the data)
    "fake": DatasetSpec("classification", True, False, True, 32, default_classes=10),
    "cifar10": DatasetSpec("classification", True, True, False, 32, num_classes=10),
    "imagefolder": DatasetSpec("classification", False, True, False, 224),
    "shapes": DatasetSpec("segmentation", True, False, True, 64, default_classes=2),
    "segfolder": DatasetSpec("segmentation", False, True, False, 256),
    "detshapes": DatasetSpec("detection", True, False, True, 96, default_classes=3),
    "yolo": DatasetSpec("detection", False, True, False, 640),
    "coco": DatasetSpec("detection", False, True, False, 640),
    "voc": DatasetSpec("detection", False, True, False, 640),
}

if tuple(DATASETS) != get_args(DataName):  # pragma: no cover - a table edited on one side only
    raise RuntimeError(f"config.datasets: DataName {get_args(DataName)} != table {tuple(DATASETS)}")


CODE_DATA = "package.module:Class"
"""How a user's own dataset is named in `data.name` (a torch.utils.data.Dataset subclass)."""

_CODE_NAME = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*:[A-Za-z_]\w*(\.[A-Za-z_]\w*)*$")


def is_user_data(name: str) -> bool:
    """Whether `data.name` names the user's own Dataset class (`module:Class`)."""
    return ":" in name


def check_data_name(name: str) -> str | None:
    """None when `name` is a built-in data source or has the `package.module:Class` form; else
    the expected values, as the schema's literal error says them."""
    if name in DATASETS or _CODE_NAME.match(name):
        return None
    quoted = [f"'{n}'" for n in DATASETS]
    return f"{', '.join(quoted)} or {CODE_DATA}"


def task_datasets(task: str) -> tuple[str, ...]:
    """The data.name values of `task`, in table order."""
    return tuple(name for name, spec in DATASETS.items() if spec.task == task)


ROOT_DATASETS = frozenset(name for name, spec in DATASETS.items() if spec.reads_root)
"""Data sources read from `data.root`."""
