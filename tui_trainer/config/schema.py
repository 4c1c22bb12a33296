"""The typed schema of a run. Unknown keys are errors; every field is documented here.

The resolved config (defaults → preset → overrides) is what `config.yaml` in a run directory holds,
and `replay` validates it with this same schema.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import (
    BeforeValidator,
    Field,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from tui_trainer.config.alerts import AlertsConfig
from tui_trainer.config.code_specs import LossConfig, MetricSpec, metric_items
from tui_trainer.config.data_schema import (
    AugmentConfig,
    CutMixConfig,
    DataConfig,
    DataName,
    MixupConfig,
    NormalizeConfig,
    _list_as_tuple,
)
from tui_trainer.config.sections import (
    CheckpointConfig,
    EarlyStopConfig,
    EmaConfig,
    LogConfig,
    PicturesConfig,
    ProgressConfig,
    Section,
)
from tui_trainer.config.steering import SteerEntry, steering_error
from tui_trainer.config.tasks import (
    TASKS,
    default_loss,
    default_monitor,
    monitor_mode,
    task_mismatch,
)

__all__ = [
    "AugmentConfig",
    "CheckpointConfig",
    "CutMixConfig",
    "DataConfig",
    "DataName",
    "EarlyStopConfig",
    "EmaConfig",
    "LogConfig",
    "LossConfig",
    "MixupConfig",
    "NormalizeConfig",
    "ProgressConfig",
    "RunConfig",
    "Section",
]

TaskName = Literal["classification", "segmentation", "detection"]
PrecisionName = Literal["fp32", "fp16", "bf16"]
SchedulerName = Literal["none", "step", "multistep", "cosine", "onecycle", "plateau"]

_DEVICE_RE = re.compile(r"^(auto|cpu|cuda|cuda:\d+|mps)$")


class ModelConfig(Section):
    """The network. `name` is small_cnn, a torchvision.models name, or 'module:Class'."""

    name: str = Field(
        "small_cnn", min_length=1, description="small_cnn | torchvision name | module:Class."
    )
    num_classes: int | None = Field(
        None, ge=2, description="Output classes (default: the dataset's)."
    )
    weights: str | None = Field(
        None,
        description="A local .pt file (state dict or tui-trainer checkpoint) or a torchvision "
        "weights name such as 'DEFAULT' or 'ResNet18_Weights.IMAGENET1K_V1'.",
    )
    backbone_weights: str | None = Field(
        None,
        description="Detection: weights of the backbone only (the YOLO tutorial's `pretrain`, "
        "where model.weights is its whole-model `model_path`): a local file or a torchvision "
        "classifier weights name such as 'ResNet50_Weights.IMAGENET1K_V1', read from the torch "
        "hub cache (never downloaded).",
    )
    kwargs: dict[str, Any] = Field(default_factory=dict, description="Extra constructor arguments.")


class OptimConfig(Section):
    """The optimizer."""

    name: Literal["sgd", "adam", "adamw"] = Field("sgd", description="sgd | adam | adamw.")
    lr: float = Field(0.01, gt=0, description="Base learning rate.")
    weight_decay: float = Field(0.0, ge=0, description="Weight decay (L2; decoupled for adamw).")
    momentum: float = Field(0.9, ge=0, lt=1, description="SGD momentum.")
    nesterov: bool = Field(False, description="SGD Nesterov momentum.")
    betas: Annotated[tuple[float, float], BeforeValidator(_list_as_tuple)] = Field(
        (0.9, 0.999), description="Adam/AdamW betas."
    )
    clip_grad_norm: float | None = Field(
        None,
        gt=0,
        description="Clip the gradients' total norm to this bound before each optimizer step "
        "(fp16: after unscaling); null = off.",
    )
    clip_grad_value: float | None = Field(
        None, gt=0, description="Clamp each gradient element to ±this value; null = off."
    )
    clip_norm_type: float = Field(
        2.0, gt=0, description="The p of the p-norm clip_grad_norm bounds (inf: the max norm)."
    )


class SchedulerConfig(Section):
    """Learning-rate schedule, evaluated at every optimizer step from the fractional epoch."""

    name: SchedulerName = Field("none", description="none|step|multistep|cosine|onecycle|plateau.")
    warmup_epochs: float = Field(0.0, ge=0, description="Linear warm-up length in epochs.")
    warmup_start_factor: float = Field(
        0.01, gt=0, le=1, description="Warm-up starts at lr × this factor."
    )
    step_size: int = Field(10, ge=1, description="step: epochs between decays.")
    gamma: float = Field(0.1, gt=0, le=1, description="step/multistep: decay factor.")
    milestones: list[int] = Field(
        default_factory=lambda: [30, 60], description="multistep: epochs at which to decay."
    )
    min_lr: float = Field(0.0, ge=0, description="cosine: final learning rate.")
    max_lr: float | None = Field(None, gt=0, description="onecycle: peak LR (default: optim.lr).")
    pct_start: float = Field(0.3, gt=0, lt=1, description="onecycle: fraction spent rising.")
    div_factor: float = Field(25.0, gt=1, description="onecycle: initial LR = max_lr / div_factor.")
    final_div_factor: float = Field(1e4, gt=1, description="onecycle: final LR divisor.")
    patience: int = Field(3, ge=0, description="plateau: epochs without improvement before decay.")
    factor: float = Field(0.1, gt=0, lt=1, description="plateau: decay factor.")
    threshold: float = Field(1e-4, ge=0, description="plateau: relative improvement that counts.")

    @field_validator("milestones")
    @classmethod
    def _sorted(cls, v: list[int]) -> list[int]:
        if any(m < 1 for m in v) or v != sorted(v):
            raise ValueError("milestones must be increasing epoch numbers >= 1")
        return v


class FreezeConfig(Section):
    """Freeze the backbone (or chosen parameters), optionally for a first phase only."""

    enabled: bool = Field(False, description="Freeze the backbone (everything but the head).")
    patterns: list[str] = Field(
        default_factory=list,
        description="Glob patterns of parameter names to freeze instead of 'all but the head'.",
    )
    epochs: int | None = Field(
        None,
        ge=1,
        description="Frozen-phase length in epochs; then all layers train (None: all run).",
    )
    batch_size: int | None = Field(
        None, ge=1, description="Batch size during the frozen phase (default: data.batch_size)."
    )


class RunConfig(Section):
    """A whole run: the keys a preset may set and `key.path=value` overrides may change."""

    description: str = Field("", description="One line shown by `tui-trainer presets`.")
    task: TaskName = Field(
        "classification",
        description="What is learnt: classification | segmentation | detection.",
    )
    epochs: int = Field(10, ge=1, description="Total epochs (frozen phase included).")
    seed: int = Field(
        0, ge=0, lt=2**63, description="Seed for python, numpy and torch RNGs (0 to 2**63 - 1)."
    )
    device: str = Field("auto", description="auto | cpu | cuda | cuda:N | mps.")
    precision: PrecisionName = Field("fp32", description="fp32 | fp16 (CUDA) | bf16.")
    accumulate: int = Field(1, ge=1, description="Micro-batches per optimizer step.")
    deterministic: bool = Field(
        True, description="Use deterministic algorithms where PyTorch has them (warn otherwise)."
    )
    out: str = Field("runs", description="Root folder of run directories.")
    on_nonfinite: Literal["stop", "skip"] = Field(
        "stop",
        description="A NaN/inf loss: stop the run (checked when values sync, no per-step stall), "
        "or skip that optimizer step (checks every step, one tiny sync each).",
    )
    nonfinite_limit: int = Field(
        5, ge=1, description="on_nonfinite=skip: stop after this many skipped steps in a row."
    )
    oom: Literal["stop", "reduce"] = Field(
        "stop",
        description="Out of memory: stop with advice, or halve the batch and double accumulate "
        "(same effective batch) and carry on; the change is recorded in config.yaml.",
    )
    on_hangup: Literal["continue", "stop"] = Field(
        "continue",
        description="The terminal hangs up (SSH dropped, SIGHUP): `continue` training without "
        "it (re-attach with `tui-trainer watch`), or `stop`: checkpoint and exit 129.",
    )
    backend: Literal["auto", "nccl", "gloo"] = Field(
        "auto",
        description="Multi-process runs (torchrun, --nproc): auto = NCCL on GPUs, gloo on CPU.",
    )
    sync_bn: bool = Field(
        False,
        description="Multi-process runs: BatchNorm statistics over the global batch "
        "(SyncBatchNorm) instead of each process's slice.",
    )
    control_every: int = Field(
        10,
        ge=1,
        description="Multi-process runs: ranks agree on pause/checkpoint/stop every N optimizer "
        "steps (and at each epoch end).",
    )
    dist_timeout: float = Field(
        600.0,
        gt=0,
        description="Multi-process runs: seconds a collective may wait for a silent rank before "
        "the run fails (a crashed rank is noticed sooner by torchrun).",
    )
    compile: bool = Field(
        False,
        description="torch.compile the model for training (falls back to eager, with one "
        "warning recorded in notes, where it cannot compile).",
    )
    compile_mode: Literal["default", "reduce-overhead", "max-autotune"] = Field(
        "default", description="torch.compile mode."
    )
    channels_last: bool = Field(
        False, description="Channels-last memory format for the model and image batches."
    )
    tf32: bool = Field(
        False, description="CUDA: TF32 tensor cores for fp32 matmuls and convolutions."
    )
    cudnn_benchmark: bool | None = Field(
        None,
        description="CUDA: let cuDNN time convolution algorithms (default: on only when "
        "deterministic is false; on makes GPU runs not bitwise reproducible).",
    )
    data: DataConfig = Field(
        default_factory=DataConfig,
        description="The data: dataset, batches, loading, caching, resizing and augmentation.",
    )
    model: ModelConfig = Field(
        default_factory=ModelConfig,
        description="The network: its name, classes, weights and constructor arguments.",
    )
    optim: OptimConfig = Field(
        default_factory=OptimConfig,
        description="The optimizer, its learning rate and gradient clipping.",
    )
    scheduler: SchedulerConfig = Field(
        default_factory=SchedulerConfig, description="The learning-rate schedule and its warm-up."
    )
    loss: LossConfig = Field(
        default_factory=LossConfig, description="The training loss and its parameters."
    )
    freeze: FreezeConfig = Field(
        default_factory=FreezeConfig,
        description="Train only the head first: which layers are frozen, and for how long.",
    )
    checkpoint: CheckpointConfig = Field(
        default_factory=CheckpointConfig,
        description="When checkpoints are written, how many are kept, which metric picks best.pt.",
    )
    progress: ProgressConfig = Field(
        default_factory=ProgressConfig,
        description="How often progress is reported to the console and to plain output.",
    )
    early_stop: EarlyStopConfig = Field(
        default_factory=EarlyStopConfig,
        description="Stop when the monitored metric stops improving.",
    )
    ema: EmaConfig = Field(
        default_factory=EmaConfig,
        description="An exponential moving average of the weights (validation uses it).",
    )
    log: LogConfig = Field(
        default_factory=LogConfig, description="Extra logs written into the run directory."
    )
    pictures: PicturesConfig = Field(
        default_factory=PicturesConfig,
        description="Validation pictures written into the run directory (samples/) and shown.",
    )
    alerts: AlertsConfig = Field(
        default_factory=AlertsConfig,
        description="Watchdogs that tell you (and can act) when a run goes wrong.",
    )
    metrics: Annotated[list[MetricSpec], BeforeValidator(metric_items)] = Field(
        default_factory=list,
        description="Extra validation metrics: torchmetrics.Metric subclasses as module:Class or "
        "{name: module:Class, kwargs: {...}} (names Python code: a preset that names code is "
        "code); each is written as val_<class name lower-cased> and may be checkpoint.monitor.",
    )
    notes: list[str] = Field(
        default_factory=list,
        description="Written by tui-trainer: changes made while resolving (fp16 → fp32 on CPU).",
    )
    steering: list[SteerEntry] = Field(
        default_factory=list,
        description="Changes at given optimizer steps ({step, change}); live steering adds here.",
    )

    @field_validator("device")
    @classmethod
    def _device(cls, v: str) -> str:
        if not _DEVICE_RE.match(v):
            raise ValueError("expected auto, cpu, cuda, cuda:N or mps")
        return v

    @model_validator(mode="before")
    @classmethod
    def _task_loss(cls, data: Any) -> Any:
        """A task whose losses exclude the default (detection) gets its own when unset."""
        task = data.get("task") if isinstance(data, dict) else None
        if not isinstance(task, str) or task not in TASKS:  # a bad task: its own error
            return data
        loss = data.get("loss")
        if loss is None or (isinstance(loss, dict) and "name" not in loss):
            default = default_loss(task)
            if default != LossConfig.model_fields["name"].default:
                data = {**data, "loss": {**(loss or {}), "name": default}}
        return data

    @model_validator(mode="after")
    def _cross_checks(self) -> RunConfig:
        freeze = self.freeze
        if freeze.enabled and freeze.epochs is not None and freeze.epochs > self.epochs:
            raise cross_field_error(
                "freeze.epochs",
                f"must not exceed epochs ({self.epochs}), got {self.freeze.epochs}",
            )
        if self.scheduler.name == "onecycle" and self.scheduler.warmup_epochs > 0:
            raise cross_field_error(
                "scheduler.warmup_epochs",
                "onecycle warms up by itself (scheduler.pct_start); "
                f"expected 0, got {self.scheduler.warmup_epochs}",
            )
        if self.data.normalize is not None and len(self.data.normalize.mean) != len(
            self.data.normalize.std
        ):
            raise cross_field_error(
                "data.normalize.std", "must have as many values as data.normalize.mean"
            )
        toggle_error = _toggle_conflict(self) or steering_error(self.steering, self.freeze.enabled)
        if toggle_error:
            raise cross_field_error(*toggle_error)
        aug = self.data.augment
        boxes_error = _detection_augment_error(self)
        if boxes_error:
            raise cross_field_error(*boxes_error)
        if self.task != "classification" and (aug.mixup.prob or aug.cutmix.prob):
            which = "mixup" if aug.mixup.prob else "cutmix"
            raise cross_field_error(
                f"data.augment.{which}.prob",
                f"mixes class labels, so classification only; expected 0 for task {self.task}",
            )
        if self.task == "detection" and (":" in self.loss.name or self.metrics):
            key = "loss.name" if ":" in self.loss.name else "metrics"
            raise cross_field_error(
                key,
                "task detection sums its detector's own losses and reports mAP; module:Class "
                "losses and metrics are for classification and segmentation",
            )
        mismatch = task_mismatch(self.task, self.data.name, self.model.name, self.loss.name)
        if mismatch:
            raise cross_field_error(*mismatch)
        return self

    def monitor(self) -> tuple[str, str]:
        """The metric that picks best.pt and whether higher ('max') or lower ('min') is better."""
        name = self.checkpoint.monitor or default_monitor(self.task)
        return name, self.checkpoint.mode or monitor_mode(name)


def _detection_augment_error(config: RunConfig) -> tuple[str, str] | None:
    """(key, message) when an augmentation does not fit the task: box-aware ones are detection
    only, and a padded crop would move detection boxes (scale jitter does that job there)."""
    aug = config.data.augment
    if config.task == "detection":
        if aug.crop_padding:
            return (
                "data.augment.crop_padding",
                "expected 0 for task detection (data.augment.scale jitters boxes with the image)",
            )
        return None
    for key in ("scale", "color", "mosaic"):
        if getattr(aug, key):
            return (
                f"data.augment.{key}",
                f"detection only; expected 0 for task {config.task}",
            )
    return None


def _toggle_conflict(config: RunConfig) -> tuple[str, str] | None:
    """(key, message) when two toggles exclude each other, else None."""
    if config.optim.clip_grad_norm is not None and config.optim.clip_grad_value is not None:
        return (
            "optim.clip_grad_value",
            "choose one of optim.clip_grad_norm and optim.clip_grad_value",
        )
    aug = config.data.augment
    total = aug.mixup.prob + aug.cutmix.prob
    if total > 1 + 1e-9:
        return (
            "data.augment.cutmix.prob",
            "a batch gets at most one of mixup and cutmix: mixup.prob + cutmix.prob must be "
            f"<= 1, got {total:g}",
        )
    return None


def cross_field_error(key: str, text: str) -> PydanticCustomError:
    """A validation error about `key` found by a check across keys (the loader names the key)."""
    return PydanticCustomError("cross_field", "{key}: {text}", {"key": key, "text": text})
