"""The pieces of a run that a checkpoint keeps, and the one holder of the run's current config.

Each stateful piece (position, epoch sums, LR schedule, steering, toggles, GradScaler, RNG,
counters) owns its `state_dict` / `load_state_dict`, as Lightning's loops do; `run_state`
composes them into a checkpoint and hands each its part back on resume. `CurrentConfig` is the
one place the config that changes while running lives (steering records, oom=reduce, compile
fallbacks): every reader holds it, none keeps a copy.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import torch

from tui_trainer.config.schema import RunConfig
from tui_trainer.engine import checkpoint as ckpt


@runtime_checkable
class Stateful(Protocol):
    """A piece of a run whose state a checkpoint keeps (weights_only-loadable values)."""

    def state_dict(self) -> dict[str, Any]:
        """The piece's state."""
        ...

    def load_state_dict(self, state: dict[str, Any]) -> Any:
        """Put back what `state_dict` returned."""
        ...


class CurrentConfig:
    """The run's config as it is now; changes replace it here, readers see them at once."""

    def __init__(self, config: RunConfig) -> None:
        self._value = config

    @property
    def value(self) -> RunConfig:
        """The config in force."""
        return self._value

    def set(self, config: RunConfig) -> RunConfig:
        """Replace the whole config (oom=reduce); returns it."""
        self._value = config
        return config

    def replace(self, **update: Any) -> RunConfig:
        """A copy with the top-level fields `update` changed becomes the config; returns it."""
        self._value = self._value.model_copy(update=update)
        return self._value

    def add_note(self, note: str) -> RunConfig:
        """Record a change made while running in the config's `notes`."""
        return self.replace(notes=[*self._value.notes, note])


class ScalerState:
    """The GradScaler's checkpoint part: empty when it is off (CPU, bf16, fp32)."""

    def __init__(self, scaler: torch.amp.GradScaler) -> None:
        self.scaler = scaler

    def state_dict(self) -> dict[str, Any]:
        """The scale and its growth tracker, or {} when the scaler is off."""
        return self.scaler.state_dict() if self.scaler.is_enabled() else {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore a saved scale (nothing saved: the scaler keeps its initial one)."""
        if state:
            self.scaler.load_state_dict(state)


class RngState:
    """Python, numpy, torch CPU and CUDA random states (the process's, not an object's)."""

    def state_dict(self) -> dict[str, Any]:
        """The current states."""
        return ckpt.rng_state()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Make the process's generators continue from `state`."""
        ckpt.restore_rng_state(state)


class StepCounts:
    """Counters the summary reports and a resume continues: optimizer steps GradScaler skipped."""

    def __init__(self) -> None:
        self.skipped_steps = 0

    def state_dict(self) -> dict[str, Any]:
        """The counts (a checkpoint's top-level "skipped_steps")."""
        return {"skipped_steps": int(self.skipped_steps)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue the counts a checkpoint holds (older ones have none: 0)."""
        self.skipped_steps = int(state.get("skipped_steps", 0))
