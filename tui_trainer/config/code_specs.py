"""Config keys that name the user's loss and metrics as `module:Class` (no torch, no imports).

`loss.name` is a built-in loss or a `module:Class` (an `nn.Module` called as
`loss(outputs, targets)`), built with `loss.kwargs`. `metrics:` lists `torchmetrics.Metric`
subclasses, each as `module:Class` or `{name: module:Class, kwargs: {...}}`. Both name Python
code: importing the module runs it, so a preset that names code is code (trust it as such).

Each metric's epoch-line name is `val_` + its class name lower-cased (`val_multiclassf1score`);
a repeated name, or one a task already reports, gets `_2`, `_3`, ... in list order, so the names
are known from the config alone (`checkpoint.monitor` may name them).
"""

from __future__ import annotations

import importlib.util
import re
from typing import TYPE_CHECKING, Any

from pydantic import Field, field_validator

from tui_trainer.config.pycode import import_class
from tui_trainer.config.sections import Section
from tui_trainer.errors import UserError

if TYPE_CHECKING:
    from tui_trainer.config.schema import RunConfig

BUILTIN_LOSSES = ("cross_entropy", "bce", "dice", "bce_dice", "iou", "focal", "detector")
"""The loss names the engine builds itself (`config.tasks` says which task takes which)."""

CODE_NAME = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*:[A-Za-z_]\w*(\.[A-Za-z_]\w*)*$")
"""`package.module:Class` (nested `Outer.Inner` allowed), as `config.pycode` imports it."""

RESERVED_METRICS = frozenset({"val_loss", "val_accuracy", "val_dice", "val_iou"})
"""Epoch-line names the tasks write themselves: a user metric never takes one."""

METRIC_BASE = "torchmetrics.metric.Metric"
"""The class every `metrics:` entry must subclass (compared by qualified name)."""


def check_loss_name(name: str) -> str:
    """`name` if it is a built-in loss or a `module:Class`, else a ValueError saying which."""
    if name in BUILTIN_LOSSES or CODE_NAME.match(name):
        return name
    if ":" in name:
        raise ValueError(f"'{name}' is not of the form package.module:ClassName")
    raise ValueError(f"expected one of {' | '.join(BUILTIN_LOSSES)} or module:Class, got '{name}'")


class MetricSpec(Section):
    """One validation metric: a torchmetrics.Metric subclass and its constructor arguments."""

    name: str = Field(
        description="module:Class of a torchmetrics.Metric subclass (names Python code), e.g. "
        "torchmetrics.classification:MulticlassF1Score."
    )
    kwargs: dict[str, Any] = Field(
        default_factory=dict,
        description="Constructor arguments (num_classes and task are filled in when the "
        "constructor takes them and they are not given).",
    )

    @field_validator("name")
    @classmethod
    def _code_name(cls, v: str) -> str:
        if not CODE_NAME.match(v):
            raise ValueError(f"expected package.module:ClassName, got '{v}'")
        return v


class LossConfig(Section):
    """The training loss."""

    name: str = Field(
        "cross_entropy",
        description="cross_entropy; segmentation also: bce | dice | bce_dice | iou | focal; "
        "detection: detector (the detector's own losses, summed; the default for task: "
        "detection); or module:Class, an nn.Module called as loss(outputs, targets) "
        "(classification, segmentation; names Python code: a preset that names code is code).",
    )
    kwargs: dict[str, Any] = Field(
        default_factory=dict, description="module:Class losses: constructor arguments."
    )
    label_smoothing: float = Field(
        0.0, ge=0, lt=1, description="Label smoothing (cross_entropy, bce, bce_dice)."
    )
    smooth: float = Field(
        1.0,
        ge=0,
        description="dice, iou, bce_dice: added to numerator and denominator, so empty masks "
        "give a finite loss (0 when nothing is predicted either).",
    )
    bce_weight: float = Field(
        0.5, ge=0, le=1, description="bce_dice: loss = w × cross-entropy + (1 − w) × Dice loss."
    )
    focal_gamma: float = Field(
        2.0, ge=0, description="focal: focusing exponent (0 = plain cross-entropy)."
    )
    focal_alpha: float | None = Field(
        0.25,
        ge=0,
        le=1,
        description="focal, binary: weight of foreground pixels (background: 1 − alpha); "
        "null = unweighted.",
    )

    @field_validator("name")
    @classmethod
    def _loss_name(cls, v: str) -> str:
        return check_loss_name(v)


def metric_items(value: Any) -> Any:
    """A `metrics:` list with bare `module:Class` strings turned into `{name: ...}` mappings."""
    if isinstance(value, list | tuple):
        return [{"name": item} if isinstance(item, str) else item for item in value]
    return value


def metric_keys(names: list[str]) -> list[str]:
    """The epoch-line names of the metrics `names` (module:Class strings), in order."""
    keys: list[str] = []
    taken = set(RESERVED_METRICS)
    for name in names:
        base = "val_" + name.rpartition(":")[2].rpartition(".")[2].lower()
        key, n = base, 1
        while key in taken:
            n += 1
            key = f"{base}_{n}"
        taken.add(key)
        keys.append(key)
    return keys


def metric_classes(specs: list[MetricSpec]) -> list[type]:
    """The classes `metrics:` names (imported; each must subclass torchmetrics.Metric)."""
    if specs and importlib.util.find_spec("torchmetrics") is None:
        raise UserError(
            "torchmetrics is not installed: pip install 'tui-trainer[metrics]' (or torchmetrics)",
            key="metrics",
        )
    return [
        import_class(s.name, f"metrics[{i}]", METRIC_BASE, "torchmetrics.Metric")
        for i, s in enumerate(specs)
    ]


def metric_mode(config: RunConfig) -> RunConfig:
    """`config` with `checkpoint.mode` set from the monitored metric's `higher_is_better` when
    the monitor names a user metric and no mode is given (config.yaml then records it, so every
    reader of the run picks the same best epoch); otherwise `config` unchanged."""
    if config.checkpoint.mode is not None or not config.metrics:
        return config
    monitor = config.checkpoint.monitor
    keys = metric_keys([s.name for s in config.metrics])
    for key, cls in zip(keys, metric_classes(config.metrics), strict=True):
        if monitor == key or (monitor or "").startswith(key + "_"):
            higher = getattr(cls, "higher_is_better", None)
            if higher is None:
                return config  # the class does not say: the name decides (config.monitor)
            checkpoint = config.checkpoint.model_copy(update={"mode": "max" if higher else "min"})
            return config.model_copy(update={"checkpoint": checkpoint})
    return config
