"""Weights for detectors: torchvision names read from the torch hub cache only (never
downloaded), state-dict files matched key by key, and the class-specific layers re-made for
another class count.

torchvision's COCO weights were saved from models whose backbone BatchNorm is frozen
(`FrozenBatchNorm2d`: no `num_batches_tracked`); a file loads into either kind of layer, and
BatchNorm layers the file saved as frozen are made frozen here too, as torchvision builds them.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import torch
from torch import nn
from torchvision.ops.misc import FrozenBatchNorm2d

from tui_trainer.engine.load_refusal import load_failure
from tui_trainer.errors import UserError

TRACKED = "num_batches_tracked"


def cached_file(weights: Any) -> Path:
    """Where the torch hub cache keeps the file of torchvision `weights`."""
    return Path(torch.hub.get_dir()) / "checkpoints" / Path(urlparse(weights.url).path).name


def require_cached(weights: Any, key: str) -> Path:
    """The cached file of `weights`; a one-line UserError saying where to put it when absent."""
    path = cached_file(weights)
    if not path.is_file():
        raise UserError(
            f"{type(weights).__name__}.{weights.name} is not in the torch hub cache and is never "
            f"downloaded: put {path.name} in {path.parent} (or set {key} to a local file)",
            key=key,
        )
    return path


def resolve_name(text: str, enum: Any, key: str, hint: str = "") -> Any:
    """The member of torchvision weights `enum` that `text` names ('DEFAULT', 'COCO_V1' or
    'Enum.MEMBER'); a one-line UserError listing the accepted names otherwise."""
    prefix, _, member = text.rpartition(".")
    members = [m.name for m in enum]
    if (not prefix or prefix == enum.__name__) and member in (*members, "DEFAULT"):
        return enum.DEFAULT if member == "DEFAULT" else enum[member]
    accepted = ", ".join(f"{enum.__name__}.{m}" for m in ("DEFAULT", *members))
    raise UserError(f"'{text}' is neither a file nor one of {accepted}{hint}", key=key)


def read_state(path: Path, key: str) -> dict[str, torch.Tensor]:
    """A state dict of tensors from a file (a plain state dict or a checkpoint's "model")."""
    if not path.is_file():
        raise UserError(f"file '{path}' not found", key=key)
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise UserError(
            f"'{path}' is not a loadable weights file ({load_failure(exc)})", key=key
        ) from None
    state = blob.get("model", blob) if isinstance(blob, dict) else None
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise UserError(f"'{path}' holds no state dict of tensors", key=key)
    return state


def freeze_batchnorm_like(
    model: nn.Module, state: dict[str, torch.Tensor], prefix: str = ""
) -> int:
    """Make BatchNorm layers frozen where `state` saved them frozen (running stats, no
    `num_batches_tracked`); how many were changed."""
    changed = 0
    for name, module in list(model.named_modules()):
        if type(module) is not nn.BatchNorm2d:
            continue
        path = f"{prefix}{name}."
        if f"{path}running_mean" in state and f"{path}{TRACKED}" not in state:
            set_module(model, name, to_frozen(module))
            changed += 1
    return changed


def freeze_all_batchnorm(module: nn.Module) -> int:
    """Replace every BatchNorm2d under `module` by a FrozenBatchNorm2d with its statistics."""
    names = [n for n, m in module.named_modules() if type(m) is nn.BatchNorm2d]
    for name in names:
        layer = module.get_submodule(name)
        assert isinstance(layer, nn.BatchNorm2d)  # the names were chosen by that type
        set_module(module, name, to_frozen(layer))
    return len(names)


def to_frozen(bn: nn.BatchNorm2d) -> FrozenBatchNorm2d:
    """A FrozenBatchNorm2d with `bn`'s affine parameters and running statistics."""
    frozen = FrozenBatchNorm2d(bn.num_features, eps=bn.eps)
    with torch.no_grad():
        if bn.affine:
            frozen.weight.copy_(bn.weight)
            frozen.bias.copy_(bn.bias)
        if bn.running_mean is not None and bn.running_var is not None:
            frozen.running_mean.copy_(bn.running_mean)
            frozen.running_var.copy_(bn.running_var)
    return frozen


def set_module(root: nn.Module, name: str, module: nn.Module) -> None:
    """Put `module` at dotted path `name` under `root`."""
    parent, _, attr = name.rpartition(".")
    setattr(root.get_submodule(parent) if parent else root, attr, module)


def load_matching(
    target: nn.Module,
    state: dict[str, torch.Tensor],
    source: str,
    key: str,
    class_layers: tuple[str, ...] = (),
) -> list[str]:
    """Load `state` into `target` key by key, strictly except for shape changes under
    `class_layers` (kept as built: another class count) and BatchNorm's `num_batches_tracked`.

    Raises a one-line UserError naming the first misfits when the file is another network's.
    Returns the class layers that were left as built.
    """
    own = target.state_dict()
    misfits: list[str] = []
    remade: set[str] = set()
    loadable: dict[str, torch.Tensor] = {}
    for name, value in state.items():
        if name.endswith(TRACKED):
            if name in own:
                loadable[name] = value
            continue
        if name not in own:
            misfits.append(f"unexpected {name}")
        elif own[name].shape != value.shape:
            layer = next((p for p in class_layers if name.startswith(f"{p}.")), None)
            if layer is None:
                misfits.append(f"{name} {tuple(value.shape)} vs {tuple(own[name].shape)}")
            else:
                remade.add(layer)
        else:
            loadable[name] = value
    misfits += [f"missing {k}" for k in own if k not in state and not k.endswith(TRACKED)]
    if misfits:
        more = f" (+{len(misfits) - 3} more)" if len(misfits) > 3 else ""
        raise UserError(f"{source} does not fit: {', '.join(misfits[:3])}{more}", key=key)
    target.load_state_dict(loadable, strict=False)
    return sorted(remade)


def remake_class_layers(model: nn.Module, family: str, num_classes: int) -> list[str]:
    """Give the class-specific layers `num_classes` outputs (fresh weights); the paths changed."""
    from torchvision.models.detection.faster_rcnn import FastRCNNPredictor

    if family == "fasterrcnn":
        roi_heads: Any = model.get_submodule("roi_heads")
        scores = roi_heads.box_predictor.cls_score
        if scores.out_features == num_classes:
            return []
        roi_heads.box_predictor = FastRCNNPredictor(scores.in_features, num_classes)
        return ["roi_heads.box_predictor"]
    head: Any = model.get_submodule("head.classification_head")
    if family in ("retinanet", "fcos"):
        if head.num_classes == num_classes:
            return []
        old = head.cls_logits
        new = nn.Conv2d(old.in_channels, head.num_anchors * num_classes, 3, padding=1)
        nn.init.normal_(new.weight, std=0.01)
        assert new.bias is not None  # nn.Conv2d makes a bias by default
        nn.init.constant_(new.bias, -math.log((1 - 0.01) / 0.01))
        head.cls_logits = new
        head.num_classes = num_classes
        return ["head.classification_head.cls_logits"]
    old_columns = head.num_columns
    if old_columns == num_classes:
        return []
    for i, branch in enumerate(head.module_list):  # SSD: a conv; SSDlite: (depthwise, conv)
        name = f"{i}" if isinstance(branch, nn.Conv2d) else f"{i}.{len(branch) - 1}"
        conv = head.module_list.get_submodule(name)
        anchors = conv.out_channels // old_columns
        new = nn.Conv2d(
            conv.in_channels, anchors * num_classes, conv.kernel_size, conv.stride, conv.padding
        )
        nn.init.xavier_uniform_(new.weight)
        assert new.bias is not None  # nn.Conv2d makes a bias by default
        nn.init.zeros_(new.bias)
        set_module(head.module_list, name, new)
    head.num_columns = num_classes
    return ["head.classification_head"]
