"""Rules between config keys that the schema's validators and `check` share (no torch here)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tui_trainer.config.schema import FreezeConfig, RunConfig

FREEZE_KNOBS = ("epochs", "batch_size", "patterns")


def freeze_knobs_set(freeze: FreezeConfig) -> list[str]:
    """The freeze keys (other than `enabled`) that hold a value, in FREEZE_KNOBS order."""
    return [k for k in FREEZE_KNOBS if getattr(freeze, k) not in (None, [])]


def freeze_without_enabled(freeze: FreezeConfig) -> str | None:
    """A "key|message" error when freeze knobs are set but freezing was never switched on.

    `freeze.epochs=2` alone most likely means "freeze for 2 epochs", which the run would not
    do: refuse it. When `freeze.enabled: false` is written explicitly (a preset's freeze phase
    switched off from the console or an override) the knobs are kept and reported as unused by
    `unused_freeze_warning` instead.
    """
    if freeze.enabled or "enabled" in freeze.model_fields_set:
        return None
    knobs = freeze_knobs_set(freeze)
    if not knobs:
        return None
    return (
        f"freeze.{knobs[0]}|has no effect unless freeze.enabled is true: add "
        "freeze.enabled=true to freeze, or remove it"
    )


def unused_freeze_warning(config: RunConfig) -> str | None:
    """The warning for freeze keys given while `freeze.enabled` is explicitly false."""
    knobs = freeze_knobs_set(config.freeze)
    if config.freeze.enabled or not knobs:
        return None
    keys = ", ".join(f"freeze.{k}" for k in knobs)
    return f"{keys} ignored: freeze.enabled is false (nothing is frozen)"


def config_warnings(config: RunConfig) -> list[str]:
    """Warnings about the config itself (keys that will have no effect), for check and run."""
    return [w for w in (unused_freeze_warning(config),) if w]
