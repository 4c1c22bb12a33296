"""The engine side of the task registry: one `EngineTask` row per task, keyed by the names of
`tui_trainer.config.tasks.TASKS` (the torch-free side: data, losses, monitor, train metric).

Each task is a package here (`classification/`, `segmentation/`, `detection/`) holding its
task object, data sources, models, losses and metrics; adding a task is adding a package and a
row in both tables (ARCHITECTURE.md, "How to add a task"). The trainer asks `build_task` for the
task-specific parts and `engine.data.build_data` asks `data_builder` for the data.
"""

from __future__ import annotations

from tui_trainer.config.schema import RunConfig
from tui_trainer.engine.tasks.base import DataBuilder, EngineTask, Evaluator, Task
from tui_trainer.engine.tasks.classification.data import DATASETS as CLASSIFICATION_DATA
from tui_trainer.engine.tasks.classification.task import ClassificationTask
from tui_trainer.engine.tasks.detection.data import DATASETS as DETECTION_DATA
from tui_trainer.engine.tasks.detection.task import DetectionTask
from tui_trainer.engine.tasks.segmentation.data import DATASETS as SEGMENTATION_DATA
from tui_trainer.engine.tasks.segmentation.task import SegmentationTask

__all__ = ["ENGINE_TASKS", "EngineTask", "Evaluator", "Task", "build_task", "data_builder"]

ENGINE_TASKS: dict[str, EngineTask] = {
    "classification": EngineTask(make=ClassificationTask, datasets=CLASSIFICATION_DATA),
    "segmentation": EngineTask(make=SegmentationTask, datasets=SEGMENTATION_DATA),
    "detection": EngineTask(make=DetectionTask, datasets=DETECTION_DATA),
}
"""The engine side of the task registry (`tui_trainer.config.tasks.TASKS` has the names)."""


def build_task(config: RunConfig) -> Task:
    """The Task for `config.task`."""
    return ENGINE_TASKS[config.task].make(config)


def data_builder(name: str) -> DataBuilder:
    """The builder of the data source `name` (a `data.name`), from the task that owns it."""
    for row in ENGINE_TASKS.values():
        if name in row.datasets:
            return row.datasets[name]
    raise ValueError(name)  # pragma: no cover - the schema's Literal keeps this unreachable
