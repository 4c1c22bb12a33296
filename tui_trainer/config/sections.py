"""Config sections of a run that stand on their own: checkpoints, early stopping, EMA, progress,
logging, and `Section`, the one strictness policy every section of `schema` shares."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class Section(BaseModel):
    """Base for every config section: one strictness policy for every key.

    Unknown keys are rejected and assignments validated. Values are strict: a bool is never a
    number (`epochs: true` is refused, not 1), a number never a bool or a string, an integer key
    takes no float (`epochs: 2.5`); a float key takes integers. Every float must be finite
    (`optim.lr: .inf` is refused like `.nan`).
    """

    model_config = ConfigDict(
        extra="forbid", validate_assignment=True, strict=True, allow_inf_nan=False
    )


class CheckpointConfig(Section):
    """When checkpoints are written (last.pt and best.pt are always kept)."""

    every_steps: int | None = Field(
        None, ge=1, description="Periodic checkpoint every N optimizer steps."
    )
    every_epochs: int | None = Field(None, ge=1, description="Periodic checkpoint every N epochs.")
    keep: int = Field(3, ge=1, description="How many periodic checkpoints to keep.")
    monitor: str | None = Field(
        None, description="Metric that picks best.pt (default: val_accuracy, val_dice for seg)."
    )
    mode: Literal["max", "min"] | None = Field(
        None, description="Whether the monitored metric is better high or low (default: by name)."
    )


class EarlyStopConfig(Section):
    """End the run when the monitored metric (checkpoint.monitor) stops improving."""

    patience: int | None = Field(
        None,
        ge=1,
        description="Stop after this many epochs without an improvement; null = off.",
    )
    min_delta: float = Field(
        0.0, ge=0, description="An improvement must beat the best value by more than this."
    )


class EmaConfig(Section):
    """An exponential moving average of the weights, used for validation and best.pt."""

    enabled: bool = Field(False, description="Keep EMA weights and evaluate with them.")
    decay: float = Field(
        0.999, gt=0, lt=1, description="EMA decay per optimizer step (ema = d·ema + (1−d)·w)."
    )
    warmup_steps: int = Field(
        100,
        ge=0,
        description="Warm-up: the decay ramps as decay·(1 − exp(−step/warmup_steps)), so early "
        "weights fade fast; 0 = the full decay from the first step.",
    )


class ProgressConfig(Section):
    """How often progress is synced from the device and shown."""

    interval: float = Field(
        0.25, gt=0, description="Seconds between progress events (each one syncs the device once)."
    )
    plain_interval: float = Field(
        5.0, gt=0, description="Seconds between plain progress lines when stdout is not a TTY."
    )


class LogConfig(Section):
    """Extra log formats written beside metrics.jsonl/metrics.csv (which stay the record)."""

    tensorboard: bool = Field(
        False,
        description="Also write TensorBoard event files into the run directory "
        '(needs the extra: pip install "tui-trainer[tensorboard]").',
    )


class PicturesConfig(Section):
    """Validation pictures written into the run directory (samples/): fixed samples with their
    predictions after each validation, and the worst mistakes of each pass."""

    samples: int = Field(
        8,
        ge=0,
        le=64,
        description="Fixed validation images (evenly spaced over the validation order) shown "
        "and saved with their predictions after each validation; 0 = none.",
    )
    mistakes: int = Field(
        16,
        ge=0,
        le=256,
        description="Worst mistakes kept from each validation pass (most confident wrong "
        "answers, lowest Dice or F1); 0 = none.",
    )
    size: int = Field(128, ge=32, le=512, description="A tile's longest side in pixels, per panel.")
