"""The user's own loss and validation metrics, named in the config as `module:Class`.

A loss is an `nn.Module` built with `loss.kwargs` and called as `loss(outputs, targets)` (the
task's logits and targets). Metrics are `torchmetrics.Metric` subclasses; `UserMetrics` updates
them in each validation pass with the same logits and targets the task's evaluator sees,
computes them once at its end and resets them at the next. Under DDP torchmetrics gathers
their states over the ranks in `compute` when each rank validated a shard; when every rank
validates the whole set (segmentation) it is told not to, so the value is the one-process one.

Metrics get classification's logits (N, C) and integer labels (N,), segmentation's logits
(N, C, H, W) and masks (N, H, W): two-class segmentation has one logit channel, given as
(N, H, W), with `task="binary"` filled in. A metric's value is a number; a vector (e.g.
`average=None`'s per-class scores) is averaged over its finite entries; a dict gives one
`<name>_<key>` entry per key.
"""

from __future__ import annotations

import inspect
import math
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from tui_trainer.config.code_specs import metric_classes, metric_keys
from tui_trainer.config.pycode import METRIC_FILLS, fill_in, import_class
from tui_trainer.errors import UserError

if TYPE_CHECKING:
    from tui_trainer.config.code_specs import LossConfig
    from tui_trainer.config.schema import RunConfig
    from tui_trainer.engine.tasks.base import Evaluator


def _one_line(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {' '.join(str(exc).split())}"


def build_user_loss(cfg: LossConfig) -> nn.Module:
    """`loss.name`'s class built with `loss.kwargs`; a failing constructor is one UserError."""
    cls = import_class(cfg.name, "loss.name")
    try:
        return cls(**cfg.kwargs)
    except Exception as exc:
        raise UserError(
            f"{cfg.name}(**loss.kwargs) failed: {_one_line(exc)}", key="loss.kwargs"
        ) from None


def constructor_params(cls: type) -> set[str]:
    """The named arguments `cls(...)` takes: its `__init__`'s, and its `__new__`'s where that
    picks the class (torchmetrics' `F1Score(task=...)` wrappers)."""
    names: set[str] = set()
    for name in ("__init__", "__new__"):  # the ones `cls(...)` calls: first along the MRO
        method = next((vars(c)[name] for c in cls.__mro__ if name in vars(c)), None)
        if method is None or method in (object.__init__, object.__new__):
            continue
        try:
            names |= set(inspect.signature(method).parameters)
        except (TypeError, ValueError):
            continue
    return names


def task_kind(task: str, num_classes: int) -> str:
    """The torchmetrics `task=` a run's outputs fit: "binary" for two-class segmentation (one
    logit channel), else "multiclass"."""
    return "binary" if task == "segmentation" and num_classes == 2 else "multiclass"


def metric_inputs(outputs: Any, targets: Any) -> tuple[Any, Any]:
    """What a metric is given: the task's outputs, with a single logit channel (binary
    segmentation's (N, 1, H, W)) squeezed to the targets' shape."""
    if (
        isinstance(outputs, torch.Tensor)
        and isinstance(targets, torch.Tensor)
        and outputs.dim() == targets.dim() + 1
        and outputs.shape[1] == 1
    ):
        return outputs[:, 0], targets
    return outputs, targets


def build_metrics(
    config: RunConfig, num_classes: int, device: torch.device, *, sync: bool
) -> dict[str, Any]:
    """Each `metrics:` entry instantiated (num_classes/task filled in where the constructor
    takes them and the user did not give them) and moved to `device`, by epoch-line name.
    `sync`: gather states over the ranks in `compute` (each rank saw a shard)."""
    specs = config.metrics
    metrics: dict[str, Any] = {}
    keys = metric_keys([s.name for s in specs])
    for i, (key, spec, cls) in enumerate(zip(keys, specs, metric_classes(specs), strict=True)):
        params = constructor_params(cls)
        filled = (num_classes, task_kind(config.task, num_classes))
        kwargs = fill_in(dict(spec.kwargs), params, METRIC_FILLS, filled)
        if not sync and "sync_on_compute" not in kwargs:
            kwargs["sync_on_compute"] = False
        try:
            metrics[key] = cls(**kwargs).to(device)
        except Exception as exc:
            raise UserError(
                f"{spec.name}({', '.join(f'{k}={v!r}' for k, v in kwargs.items())}) failed: "
                f"{_one_line(exc)}",
                key=f"metrics[{i}].kwargs",
            ) from None
    return metrics


def _value(key: str, value: Any) -> float:
    if isinstance(value, torch.Tensor):
        flat = value.detach().float().flatten().cpu()
        finite = flat[torch.isfinite(flat)]
        return float(finite.mean()) if finite.numel() else math.nan
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    raise UserError(
        f"metric {key} returned {type(value).__name__}; expected a number, a tensor or a dict "
        "of them",
        key="metrics",
    )


def flatten(key: str, value: Any) -> dict[str, float]:
    """One metric's `compute()` as epoch-line entries (see the module's docstring)."""
    if isinstance(value, dict):
        return {f"{key}_{k}": _value(f"{key}_{k}", v) for k, v in value.items()}
    return {key: _value(key, value)}


class UserMetrics:
    """A task's evaluator with the user's metrics added to its results (same protocol)."""

    def __init__(self, inner: Evaluator, metrics: dict[str, Any]) -> None:
        self.inner, self.metrics = inner, metrics
        self.sharded_validation = getattr(inner, "sharded_validation", False)

    def reset(self) -> None:
        """A new validation pass."""
        self.inner.reset()
        for metric in self.metrics.values():
            metric.reset()

    def update(self, outputs: Any, targets: Any) -> None:
        """One batch: the task's outputs (logits) and targets, to every metric."""
        self.inner.update(outputs, targets)
        preds, target = metric_inputs(outputs, targets)
        for key, metric in self.metrics.items():
            try:
                metric.update(preds, target)
            except Exception as exc:
                shapes = f"outputs {tuple(preds.shape)}, targets {tuple(target.shape)}"
                raise UserError(
                    f"metric {key} ({type(metric).__name__}) refused the validation batch "
                    f"({shapes}): {_one_line(exc)}",
                    key="metrics",
                ) from None

    def compute(self) -> dict[str, float]:
        """The task's metrics, then each user metric's (computed once per pass)."""
        out = self.inner.compute()
        for key, metric in self.metrics.items():
            out.update(flatten(key, metric.compute()))
        return out

    def report(self, class_names: list[str]) -> str:
        """The task's report."""
        return self.inner.report(class_names)

    def details(self, class_names: list[str]) -> dict[str, Any]:
        """The task's per-class details."""
        return self.inner.details(class_names)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)  # the task evaluator's extras (previews, curves)


def with_user_metrics(
    evaluator: Evaluator, config: RunConfig, num_classes: int, device: torch.device, dist: Any
) -> Evaluator:
    """`evaluator`, with `config.metrics` added when there are any (gathered over `dist`'s
    ranks only where each validates a shard)."""
    if not config.metrics:
        return evaluator
    sync = bool(dist.enabled and getattr(evaluator, "sharded_validation", False))
    return UserMetrics(evaluator, build_metrics(config, num_classes, device, sync=sync))
