"""Rules between config keys that the schema's validators and `check` share (no torch here)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tui_trainer.config.schema import FreezeConfig, RunConfig

FREEZE_KNOBS = ("epochs", "batch_size", "patterns")


def freeze_knobs_set(freeze: FreezeConfig) -> list[str]:
    """The freeze keys (other than `enabled`) that hold a value, in FREEZE_KNOBS order."""
    return [k for k in FREEZE_KNOBS if getattr(freeze, k) not in (None, [])]


def freeze_override_without_enabled(
    freeze: FreezeConfig, sources: dict[tuple[str, ...], str]
) -> tuple[str, str, str] | None:
    """(key, location, message) when an override sets a freeze knob but freezing is off.

    Typing `freeze.epochs=2` alone most likely means "freeze for 2 epochs", which the run would
    not do: refuse it. A preset that only prepares the freeze phase (knobs set, `enabled` left
    out, for the console's freeze toggle) and an explicit `freeze.enabled: false` (a preset's
    freeze phase switched off) are accepted; `unused_freeze_warning` reports the unused knobs.
    `sources` maps key paths to where their value came from (`override '...'` or a file).
    """
    if freeze.enabled or "enabled" in freeze.model_fields_set:
        return None
    for knob in freeze_knobs_set(freeze):
        where = sources.get(("freeze", knob), "")
        if where.startswith("override"):
            return (
                f"freeze.{knob}",
                where,
                "has no effect unless freeze.enabled is true: add freeze.enabled=true to "
                "freeze, or remove it",
            )
    return None


def unused_freeze_warning(config: RunConfig) -> str | None:
    """The warning for freeze keys given while `freeze.enabled` is explicitly false."""
    knobs = freeze_knobs_set(config.freeze)
    if config.freeze.enabled or not knobs:
        return None
    keys = ", ".join(f"freeze.{k}" for k in knobs)
    return f"{keys} ignored: freeze.enabled is false (add freeze.enabled=true to freeze)"


def freeze_without_weights_warning(config: RunConfig) -> str | None:
    """The warning for a frozen backbone that no weights file or weights name initialises.

    Freezing keeps the backbone's starting weights: random ones make the frozen phase train the
    head on noise features. A user's `module:Class` may load its own weights: not warned.
    """
    from tui_trainer.config.tasks import model_kind

    model = config.model
    if not config.freeze.enabled or model.weights or model_kind(model.name) == "user":
        return None
    if model.backbone_weights:  # a detector's backbone weights initialise what is frozen
        return None
    return (
        f"freeze.enabled: {config.model.name}'s backbone is frozen but model.weights is null, "
        "so it stays randomly initialised; set model.weights (DEFAULT or a .pt file) or "
        "freeze.enabled=false"
    )


def unused_val_resize_warning(config: RunConfig) -> str | None:
    """The warning for `data.val_resize` where no validation resize uses it."""
    data = config.data
    if data.val_resize is None or (data.name == "imagefolder" and data.transform == "finetune"):
        return None
    return "data.val_resize ignored: only imagefolder with data.transform=finetune uses it"


def config_warnings(config: RunConfig) -> list[str]:
    """Warnings about the config itself (keys that will have no effect, a frozen random
    backbone), for check and run."""
    warnings = (
        unused_freeze_warning(config),
        freeze_without_weights_warning(config),
        unused_val_resize_warning(config),
    )
    return [w for w in warnings if w]
