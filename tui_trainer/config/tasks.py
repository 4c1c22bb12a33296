"""The task registry: what belongs to each task, as plain names (no torch here).

Like Ultralytics' TASK2DATA/TASK2MODEL/TASK2METRIC tables, one place says which data sets,
losses and models a task accepts, which metric picks best.pt by default and which running
metric the training loop reports. The schema checks configs against it; the engine maps the
same names to builders (`tui_trainer.engine.tasks`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from tui_trainer.config.datasets import task_datasets

ModelKind = Literal["small_cnn", "user", "segmentation", "torchvision"]

SEGMENTATION_MODELS = (
    "unet",
    "fcn_resnet50",
    "fcn_resnet101",
    "deeplabv3_resnet50",
    "deeplabv3_resnet101",
    "deeplabv3_mobilenet_v3_large",
    "lraspp_mobilenet_v3_large",
)


@dataclass(frozen=True)
class TaskSpec:
    """The names one task accepts and reports."""

    data: tuple[str, ...]  # data.name values (from config.datasets.DATASETS)
    losses: tuple[str, ...]  # loss.name values
    monitor: str  # default checkpoint.monitor (picks best.pt)
    train_metric: str  # the running training metric in epoch lines


TASKS: dict[str, TaskSpec] = {
    "classification": TaskSpec(
        data=task_datasets("classification"),
        losses=("cross_entropy",),
        monitor="val_accuracy",
        train_metric="train_accuracy",
    ),
    "segmentation": TaskSpec(
        data=task_datasets("segmentation"),
        losses=("cross_entropy", "bce", "dice", "bce_dice", "iou", "focal"),
        monitor="val_dice",
        train_metric="train_dice",
    ),
}

SEGMENTATION_DATA = TASKS["segmentation"].data
SEGMENTATION_LOSSES = tuple(
    name for name in TASKS["segmentation"].losses if name not in TASKS["classification"].losses
)


def model_kind(name: str) -> ModelKind:
    """How `model.name` is built: small_cnn, a user's module:Class, a segmentation model, or a
    torchvision classification model (the one place that decides it)."""
    if name == "small_cnn":
        return "small_cnn"
    if ":" in name:
        return "user"
    if name in SEGMENTATION_MODELS:
        return "segmentation"
    return "torchvision"


def model_task(name: str) -> str | None:
    """The task a model name belongs to (None: a user's module:Class may serve either)."""
    kind = model_kind(name)
    if kind == "user":
        return None
    return "segmentation" if kind == "segmentation" else "classification"


def default_monitor(task: str) -> str:
    """The metric that picks best.pt when checkpoint.monitor is not set."""
    return TASKS[task].monitor


def monitor_mode(metric: str) -> Literal["max", "min"]:
    """Whether a metric is better high or low, by its name (losses are minimised)."""
    return "min" if metric.endswith("loss") else "max"


def is_weights_file(weights: str) -> bool:
    """Whether `model.weights` names a file (a path, a .pt-like name), not a weights name."""
    from pathlib import Path

    return (
        weights.endswith((".pt", ".pth", ".bin", ".ckpt"))
        or "/" in weights
        or Path(weights).exists()
    )


def effective_batch(batch_size: int, accumulate: int, world_size: int = 1) -> int:
    """Samples behind one optimizer step: micro-batch × accumulate × processes."""
    return batch_size * accumulate * world_size


def task_mismatch(task: str, data: str, model: str, loss: str) -> tuple[str, str] | None:
    """(key, message) when data, model or loss belong to the other task, else None."""
    seg = task == "segmentation"
    if not seg and loss in SEGMENTATION_LOSSES:
        return (
            "loss.name",
            f"'{loss}' is a segmentation loss; classification uses cross_entropy "
            "(or set task: segmentation)",
        )
    if seg != (data in SEGMENTATION_DATA):
        if seg:
            return (
                "data.name",
                f"'{data}' is classification data; segmentation: {' or '.join(SEGMENTATION_DATA)}",
            )
        return "data.name", f"'{data}' is segmentation data; set task: segmentation"
    owner = model_task(model)
    if owner is None or owner == task:  # a user's module:Class may serve either task
        return None
    if seg:
        return (
            "model.name",
            f"'{model}' is a classification model; segmentation uses "
            f"{', '.join(SEGMENTATION_MODELS)} or module:Class",
        )
    return "model.name", f"'{model}' is a segmentation model; set task: segmentation"
