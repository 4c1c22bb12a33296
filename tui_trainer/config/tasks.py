"""The task registry: what belongs to each task, as plain names (no torch here).

Like Ultralytics' TASK2DATA/TASK2MODEL/TASK2METRIC tables, one place says which data sets,
losses and models a task accepts, which metric picks best.pt by default and which running
metric the training loop reports. The schema checks configs against it; the engine maps the
same names to builders (`tui_trainer.engine.tasks`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from tui_trainer.config.datasets import is_user_data, task_datasets

ModelKind = Literal["small_cnn", "user", "segmentation", "detection", "torchvision"]

SEGMENTATION_MODELS = (
    "unet",
    "fcn_resnet50",
    "fcn_resnet101",
    "deeplabv3_resnet50",
    "deeplabv3_resnet101",
    "deeplabv3_mobilenet_v3_large",
    "lraspp_mobilenet_v3_large",
)

DETECTION_MODELS = (
    "fcos_tiny",
    "fasterrcnn_resnet50_fpn",
    "fasterrcnn_resnet50_fpn_v2",
    "fasterrcnn_mobilenet_v3_large_fpn",
    "fasterrcnn_mobilenet_v3_large_320_fpn",
    "retinanet_resnet50_fpn",
    "retinanet_resnet50_fpn_v2",
    "fcos_resnet50_fpn",
    "ssd300_vgg16",
    "ssdlite320_mobilenet_v3_large",
)
"""Detectors by name: our tiny FCOS (the quickstart's) and torchvision's."""


@dataclass(frozen=True)
class TaskSpec:
    """The names one task accepts and reports."""

    data: tuple[str, ...]  # data.name values (from config.datasets.DATASETS)
    losses: tuple[str, ...]  # loss.name values
    monitor: str  # default checkpoint.monitor (picks best.pt)
    train_metric: str  # the running training metric in epoch lines ("": none)
    models: str  # which models serve it, for messages
    plot_metrics: tuple[str, ...]  # the validation metrics the console's metric plot shows


TASKS: dict[str, TaskSpec] = {
    "classification": TaskSpec(
        data=task_datasets("classification"),
        losses=("cross_entropy",),
        monitor="val_accuracy",
        train_metric="train_accuracy",
        models="small_cnn, torchvision classifiers or module:Class",
        plot_metrics=("val_accuracy",),
    ),
    "segmentation": TaskSpec(
        data=task_datasets("segmentation"),
        losses=("cross_entropy", "bce", "dice", "bce_dice", "iou", "focal"),
        monitor="val_dice",
        train_metric="train_dice",
        models=f"{', '.join(SEGMENTATION_MODELS)} or module:Class",
        plot_metrics=("val_dice", "val_iou"),
    ),
    "detection": TaskSpec(
        data=task_datasets("detection"),
        losses=("detector",),
        monitor="val_map",
        train_metric="",  # the detector's loss parts are logged instead (train_loss_<part>)
        models=f"{', '.join(DETECTION_MODELS)} or module:Class",
        plot_metrics=("val_map", "val_map50"),
    ),
}


def model_kind(name: str) -> ModelKind:
    """How `model.name` is built: small_cnn, a user's module:Class, a segmentation model, a
    detector, or a torchvision classification model (the one place that decides it)."""
    if name == "small_cnn":
        return "small_cnn"
    if ":" in name:
        return "user"
    if name in SEGMENTATION_MODELS:
        return "segmentation"
    if name in DETECTION_MODELS:
        return "detection"
    return "torchvision"


def model_task(name: str) -> str | None:
    """The task a model name belongs to (None: a user's module:Class may serve any task)."""
    kind = model_kind(name)
    if kind == "user":
        return None
    if kind in ("segmentation", "detection"):
        return kind
    return "classification"


def default_monitor(task: str) -> str:
    """The metric that picks best.pt when checkpoint.monitor is not set."""
    return TASKS[task].monitor


def monitor_mode(metric: str) -> Literal["max", "min"]:
    """Whether a metric is better high or low, by its name (losses and their parts, such as
    `val_loss_box_reg`, are minimised)."""
    return "min" if metric.endswith("loss") or "_loss_" in metric else "max"


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


def default_loss(task: str) -> str:
    """The loss a task uses when `loss.name` is not set (its first)."""
    return TASKS[task].losses[0]


def data_task(data: str) -> str | None:
    """The task a data source serves (None: a user's module:Class dataset may serve any)."""
    if is_user_data(data):
        return None
    return next(task for task, spec in TASKS.items() if data in spec.data)


def task_mismatch(task: str, data: str, model: str, loss: str) -> tuple[str, str] | None:
    """(key, message) when data, model or loss belong to another task, else None."""
    spec = TASKS[task]
    owner = data_task(data)
    if owner is not None and owner != task:
        return (
            "data.name",
            f"'{data}' is {owner} data; {task} uses {' | '.join(spec.data)} (or set task: {owner})",
        )
    if ":" not in loss and loss not in spec.losses:  # a user's module:Class loss fits any
        owners = [name for name, other in TASKS.items() if loss in other.losses]
        where = f"'{loss}' is a {' and '.join(owners)} loss" if owners else f"'{loss}'"
        return "loss.name", f"{where}; {task} uses {' | '.join(spec.losses)}"
    owner_model = model_task(model)
    if owner_model is None or owner_model == task:  # a user's module:Class may serve any task
        return None
    return (
        "model.name",
        f"'{model}' is a {owner_model} model; {task} uses {spec.models} "
        f"(or set task: {owner_model})",
    )
