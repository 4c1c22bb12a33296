"""What every task's model builder shares: the built model's record (`BuiltModel`), calling a
constructor with one-line errors (`construct`), loading a weights file or torchvision weights,
a user's `module:Class`, and counting parameters.

The task packages (`engine.tasks.classification.models`, `engine.tasks.segmentation.models`)
build on these; `engine.models.build_model` picks the builder (no builder imports it back).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from tui_trainer.config.pycode import MODEL_FILLS, fill_in, import_class
from tui_trainer.config.schema import ModelConfig
from tui_trainer.config.tasks import is_weights_file
from tui_trainer.engine.load_refusal import load_failure
from tui_trainer.errors import UserError


@dataclass
class BuiltModel:
    """The model and what the trainer and the UI report about it."""

    model: nn.Module
    head: str  # module path of the classification head ("" when unknown)
    in_channels: int
    notes: list[str]
    backbone: str = ""  # module path `freeze.enabled` freezes (detectors); "": all but the head


def find_head(model: nn.Module) -> str:
    """The module path of the last Linear layer (the classification head)."""
    last = ""
    for name, module in model.named_modules():
        if isinstance(module, nn.Linear):
            last = name
    return last


def torchvision_weights(name: str, weights: str | None) -> Any:
    """The torchvision weights enum member that `model.weights` names (None for a file/none)."""
    if not weights or is_weights_file(weights):
        return None
    from torchvision import models

    try:
        enum = models.get_model_weights(name)
        key = weights.split(".")[-1]
        return enum.DEFAULT if key == "DEFAULT" else enum[key]
    except (KeyError, ValueError):
        raise UserError(
            f"'{weights}' is neither a file nor a weights name of {name}",
            key="model.weights",
        ) from None


def torchvision_state(weights: Any) -> dict[str, torch.Tensor]:
    """Load torchvision weights from the hub cache (or online); where to put them otherwise."""
    try:
        return weights.get_state_dict(progress=False, check_hash=False)
    except Exception as exc:
        cache = Path(torch.hub.get_dir()) / "checkpoints" / Path(weights.url).name
        raise UserError(
            f"cannot load {weights} ({type(exc).__name__}); offline, put "
            f"{Path(weights.url).name} in {cache.parent}, or set model.weights to a local file",
            key="model.weights",
        ) from None


def user_model(cfg: ModelConfig, num_classes: int, in_channels: int) -> nn.Module:
    """Build `module:Class`: checked to be an nn.Module subclass before it is called."""
    cls = import_class(cfg.name, "model.name")
    if not issubclass(cls, nn.Module):  # the same check by identity, once torch is here
        raise UserError(f"class '{cfg.name}' is not a torch.nn.Module subclass", key="model.name")
    params: Mapping[str, inspect.Parameter]
    try:
        params = inspect.signature(cls).parameters
    except (TypeError, ValueError):
        params = {}
    kwargs = fill_in(dict(cfg.kwargs), params, MODEL_FILLS, (num_classes, in_channels))
    return construct(cfg.name, cls, kwargs, cfg.kwargs)


def construct(
    label: str, factory: Callable[..., nn.Module], kwargs: dict[str, Any], given: dict[str, Any]
) -> nn.Module:
    """Call a model constructor; any failure becomes a one-line UserError.

    The error names model.kwargs when kwargs were given (the usual cause: a wrong name, a list
    of the wrong length), else model.name (the class itself failed to build).
    """
    try:
        model = factory(**kwargs)
    except (KeyboardInterrupt, SystemExit, UserError):
        raise
    except Exception as exc:
        detail = " ".join(str(exc).split()) or "no message"
        if given:
            raise UserError(
                f"{label} cannot be built with {given}: {type(exc).__name__}: {detail}",
                key="model.kwargs",
            ) from None
        raise UserError(
            f"building {label} failed: {type(exc).__name__}: {detail}",
            key="model.name",
        ) from None
    if not isinstance(model, nn.Module):
        raise UserError(f"'{label}' did not build a torch.nn.Module", key="model.name")
    return model


def load_weights_file(model: nn.Module, path_str: str, head: str) -> list[str]:
    """Load a state dict or a tui-trainer checkpoint into `model`; the head may differ in shape.

    Raises UserError listing mismatched keys when the file belongs to another architecture.
    """
    path = Path(path_str)
    if not path.is_file():
        raise UserError(f"file '{path}' not found", key="model.weights")
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise UserError(
            f"'{path}' is not a loadable weights file ({load_failure(exc)})", key="model.weights"
        ) from None
    state = blob.get("model", blob) if isinstance(blob, dict) else None
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise UserError(f"'{path}' holds no state dict of tensors", key="model.weights")
    own = model.state_dict()
    head_prefix = f"{head}." if head else "\0"
    skipped: list[str] = []
    mismatched: list[str] = []
    loadable: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        if key not in own:
            mismatched.append(f"unexpected {key}")
        elif own[key].shape != value.shape:
            (skipped if key.startswith(head_prefix) else mismatched).append(
                f"{key} {tuple(value.shape)} vs {tuple(own[key].shape)}"
            )
        else:
            loadable[key] = value
    missing = [k for k in own if k not in state and not k.startswith(head_prefix)]
    mismatched += [f"missing {k}" for k in missing]
    if mismatched:
        shown = ", ".join(mismatched[:4]) + (
            f" (+{len(mismatched) - 4} more)" if len(mismatched) > 4 else ""
        )
        raise UserError(f"'{path}' does not fit this model: {shown}", key="model.weights")
    model.load_state_dict(loadable, strict=False)
    notes = [f"loaded weights from {path}"]
    if skipped:
        notes.append(f"head '{head}' re-initialised for the new number of classes")
    return notes


def has_batchnorm(model: nn.Module) -> bool:
    """True when the model has BatchNorm layers."""
    return any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules())


def count_params(model: nn.Module) -> tuple[int, int]:
    """(trainable, total) parameter counts."""
    total = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return trainable, total
