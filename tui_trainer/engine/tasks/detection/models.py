"""Detection networks: torchvision's detectors by name, our `fcos_tiny`, or a user's `module:Class`.

Every model follows torchvision's detection contract: `model(images, targets)` in train mode
returns a dict of losses, `model(images)` in eval mode a list of dicts with `boxes` (xyxy),
`scores` and `labels` (1-based: 0 is background, as the model was built with
`len(class_names) + 1` classes). Images are float [0, 1], not normalised; the models are built
for square `image_size` inputs (min_size = max_size = image_size; SSD: its fixed size) so the
letterboxed batches are not resized again.

Weights (never downloaded): `model.weights` sets the whole model (a local file, or a torchvision
weights name found in the torch hub cache), `model.backbone_weights` the backbone only (a file,
or a classifier weights name such as `ResNet50_Weights.IMAGENET1K_V1`). Weights for another
class count (COCO's 91) load everything but the class layers, which are made anew.

`BuiltModel.backbone`, what `freeze.enabled` freezes, is the backbone's feature extractor
(`backbone.body`; SSD: `backbone.features`): the part backbone weights fill, as the YOLO
tutorial freezes its CSPDarknet and trains the neck; the FPN / SSD extras train with the head.
`BuiltModel.head` is the detection head: "roi_heads" for Faster R-CNN, "head" for the others.
"""

from __future__ import annotations

import difflib
import inspect
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from torch import nn

from tui_trainer.config.pycode import import_class
from tui_trainer.config.schema import ModelConfig
from tui_trainer.config.tasks import DETECTION_MODELS, is_weights_file
from tui_trainer.engine.model_parts import BuiltModel, construct
from tui_trainer.engine.tasks.detection import detector_weights as dw
from tui_trainer.errors import UserError

__all__ = ["DETECTION_MODELS", "FAMILIES", "build_detection_model"]


@dataclass(frozen=True)
class Family:
    """What the builder needs to know about one detector name."""

    kind: str  # fasterrcnn | retinanet | fcos | ssd: which class layers to re-make
    body: str  # module path of the backbone's feature extractor (what backbone weights fill)
    classifier: str  # torchvision classifier whose weights name backbone weights ("" none)
    frozen_bn: bool  # pretrained backbones get FrozenBatchNorm2d (as torchvision builds them)

    @property
    def head(self) -> str:
        """The detection head's module path."""
        return "roi_heads" if self.kind == "fasterrcnn" else "head"


_RCNN_R50 = Family("fasterrcnn", "backbone.body", "resnet50", True)
_RCNN_MOBILE = Family("fasterrcnn", "backbone.body", "mobilenet_v3_large", True)
FAMILIES: dict[str, Family] = {
    "fasterrcnn_resnet50_fpn": _RCNN_R50,
    "fasterrcnn_resnet50_fpn_v2": _RCNN_R50,
    "fasterrcnn_mobilenet_v3_large_fpn": _RCNN_MOBILE,
    "fasterrcnn_mobilenet_v3_large_320_fpn": _RCNN_MOBILE,
    "retinanet_resnet50_fpn": Family("retinanet", "backbone.body", "resnet50", True),
    "retinanet_resnet50_fpn_v2": Family("retinanet", "backbone.body", "resnet50", True),
    "fcos_resnet50_fpn": Family("fcos", "backbone.body", "resnet50", True),
    "ssd300_vgg16": Family("ssd", "backbone.features", "vgg16", False),
    "ssdlite320_mobilenet_v3_large": Family(
        "ssd", "backbone.features", "mobilenet_v3_large", False
    ),
    "fcos_tiny": Family("fcos", "backbone.body", "", False),
}
TORCHVISION_DETECTORS = tuple(name for name in DETECTION_MODELS if name != "fcos_tiny")
SIZE_KWARGS = ("min_size", "max_size", "size", "fixed_size")
MIN_IMAGE_SIZE = {"ssd300_vgg16": 268}  # smaller: VGG's last extra layers see maps under 3x3


def build_detection_model(cfg: ModelConfig, num_classes: int, image_size: int) -> BuiltModel:
    """Build `cfg.name` for `num_classes` (background included) at square `image_size` inputs,
    with its weights loaded; raises a one-line UserError on any bad name, kwarg or weights."""
    backbone_weights: str | None = getattr(cfg, "backbone_weights", None)
    if ":" in cfg.name:
        return _user_detector(cfg, num_classes, image_size, backbone_weights)
    family = FAMILIES.get(cfg.name)
    if family is None:
        raise UserError(
            f"'{cfg.name}' is not a detection model ({', '.join(DETECTION_MODELS)}, "
            "or module:Class)",
            key="model.name",
        )
    check_kwargs(cfg.name, family, cfg.kwargs, image_size)
    smallest = MIN_IMAGE_SIZE.get(cfg.name, 1)
    if image_size < smallest:
        raise UserError(
            f"{cfg.name} needs images of at least {smallest} pixels, got {image_size}",
            key="data.image_size",
        )
    notes: list[str] = []
    if cfg.weights and backbone_weights:
        notes.append("model.backbone_weights not used: model.weights sets the whole model")
        backbone_weights = None
    if cfg.name == "fcos_tiny":
        model = _fcos_tiny(cfg, num_classes, image_size, backbone_weights)
    else:
        model = _torchvision(cfg, family, num_classes, image_size, backbone_weights, notes)
    if cfg.weights and is_weights_file(cfg.weights):
        notes += _load_whole_file(model, cfg.weights, family)
    if backbone_weights and is_weights_file(backbone_weights):
        notes += _load_backbone_file(model, backbone_weights, family)
    return BuiltModel(model, family.head, 3, notes, backbone=family.body)


def accepted_kwargs(name: str, family: Family) -> set[str]:
    """The keyword arguments `name`'s builder, detector class and input transform take
    (torchvision's detectors swallow unknown ones silently: a typo would do nothing)."""
    from torchvision import models
    from torchvision.models.detection import FCOS, FasterRCNN, RetinaNet
    from torchvision.models.detection.ssd import SSD
    from torchvision.models.detection.transform import GeneralizedRCNNTransform

    from tui_trainer.engine.tasks.detection.tiny import fcos_tiny

    detector = {"fasterrcnn": FasterRCNN, "retinanet": RetinaNet, "fcos": FCOS, "ssd": SSD}
    builder = fcos_tiny if name == "fcos_tiny" else models.get_model_builder(name)
    names: set[str] = {"_skip_resize"}
    for func in (builder, detector[family.kind].__init__, GeneralizedRCNNTransform.__init__):
        names |= {
            p.name
            for p in inspect.signature(func).parameters.values()
            if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
        }
    return names - {"self", "backbone", "image_size", "progress"}


def check_kwargs(name: str, family: Family, kwargs: dict[str, Any], image_size: int) -> None:
    """One-line UserError for a model.kwargs key the detector does not take or that another
    setting owns (sizes: data.image_size; weights, classes: their own keys)."""
    owners = {
        **dict.fromkeys(SIZE_KWARGS, f"data.image_size ({image_size})"),
        "weights": "model.weights",
        "weights_backbone": "model.backbone_weights",
        "num_classes": "the data's class names",
    }
    accepted = accepted_kwargs(name, family)
    for key in kwargs:
        if key in owners:
            raise UserError(
                f"{key} is set by {owners[key]}; drop it from model.kwargs", key="model.kwargs"
            )
        if key not in accepted:
            close = difflib.get_close_matches(key, sorted(accepted), n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            raise UserError(f"{name} takes no argument '{key}'{hint}", key="model.kwargs")


def _fcos_tiny(
    cfg: ModelConfig, num_classes: int, image_size: int, backbone: str | None
) -> nn.Module:
    from tui_trainer.engine.tasks.detection.tiny import fcos_tiny

    for key, value in (("model.weights", cfg.weights), ("model.backbone_weights", backbone)):
        if value and not is_weights_file(value):
            raise UserError(f"fcos_tiny has no weights named '{value}'; give a file", key=key)

    def factory(**kw: Any) -> nn.Module:
        return fcos_tiny(num_classes, image_size, **kw)

    return construct("fcos_tiny", factory, dict(cfg.kwargs), cfg.kwargs)


def _torchvision(
    cfg: ModelConfig,
    family: Family,
    num_classes: int,
    image_size: int,
    backbone_weights: str | None,
    notes: list[str],
) -> nn.Module:
    """A torchvision detector; named weights come from the hub cache through its own builder
    (BatchNorm frozen, torchvision's default trainable layers), files are loaded afterwards."""
    from torchvision import models

    name = cfg.name
    whole = None
    if cfg.weights and not is_weights_file(cfg.weights):
        hint = (
            "; backbone weights go in model.backbone_weights" if "Weights." in cfg.weights else ""
        )
        whole = dw.resolve_name(cfg.weights, models.get_model_weights(name), "model.weights", hint)
        dw.require_cached(whole, "model.weights")
    backbone = None
    if backbone_weights and not is_weights_file(backbone_weights):
        enum = models.get_model_weights(family.classifier)
        backbone = dw.resolve_name(backbone_weights, enum, "model.backbone_weights")
        dw.require_cached(backbone, "model.backbone_weights")
    kwargs: dict[str, Any] = {"weights": whole, "weights_backbone": backbone, **cfg.kwargs}
    if family.kind != "ssd":
        kwargs.update(min_size=image_size, max_size=image_size)
    if whole is None:
        kwargs["num_classes"] = num_classes
    model = construct(name, lambda **kw: models.get_model(name, **kw), kwargs, cfg.kwargs)
    if family.kind == "ssd":  # its size is fixed by the builder: 300 / 320
        transform: Any = model.transform
        transform.min_size, transform.max_size = (image_size,), image_size
        transform.fixed_size = (image_size, image_size)
    if whole is not None:
        notes.append(f"loaded {type(whole).__name__}.{whole.name} from {dw.cached_file(whole)}")
        trained = len(whole.meta["categories"])
        for path in dw.remake_class_layers(model, family.kind, num_classes):
            notes.append(f"{path} made anew for {num_classes} classes (the weights have {trained})")
    if backbone is not None:
        notes.append(
            f"backbone weights {type(backbone).__name__}.{backbone.name} "
            f"from {dw.cached_file(backbone)}"
        )
    return model


def _load_whole_file(model: nn.Module, path_str: str, family: Family) -> list[str]:
    """Load a whole-model file; class layers of another shape keep their fresh weights."""
    path = Path(path_str)
    state = dw.read_state(path, "model.weights")
    frozen = dw.freeze_batchnorm_like(model, state)
    class_layers = (
        ("roi_heads.box_predictor",)
        if family.kind == "fasterrcnn"
        else ("head.classification_head.cls_logits",)
        if family.kind in ("retinanet", "fcos")
        else ("head.classification_head",)
    )
    remade = dw.load_matching(model, state, f"'{path}'", "model.weights", class_layers)
    notes = [f"loaded weights from {path}"]
    if frozen:
        notes.append(f"{frozen} BatchNorm layers frozen, as the file saved them")
    notes += [f"{layer} made anew for another number of classes" for layer in remade]
    return notes


def _load_backbone_file(model: nn.Module, path_str: str, family: Family) -> list[str]:
    """Load a backbone-only file into the backbone's feature extractor (`family.body`).

    The file may hold that module's own keys, a whole detector's (`backbone.body.` ...), or a
    torchvision classifier's (`features.` ..., its `fc`/`classifier` keys left out)."""
    path = Path(path_str)
    state = dw.read_state(path, "model.backbone_weights")
    body = model.get_submodule(family.body)
    own = body.state_dict()
    best: dict[str, Any] = {}
    for prefix in (f"{family.body}.", "body.", "features.", "backbone.", ""):
        mapped = {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}
        mapped = {k: v for k, v in mapped.items() if k in own}
        if len(mapped) > len(best):
            best = mapped
    if not best:
        example = next(iter(own), "")
        raise UserError(
            f"'{path}' has no key of {family.body} (e.g. '{example}'): "
            f"not a backbone of {type(model).__name__}",
            key="model.backbone_weights",
        )
    dw.load_matching(body, best, f"'{path}' (as {family.body})", "model.backbone_weights")
    notes = [f"backbone weights from {path} ({len(best)} tensors into {family.body})"]
    if family.frozen_bn:
        n = dw.freeze_all_batchnorm(body)
        notes.append(
            f"{n} pretrained BatchNorm layers of {family.body} frozen, as torchvision does"
        )
    return notes


def _user_detector(
    cfg: ModelConfig, num_classes: int, image_size: int, backbone_weights: str | None
) -> BuiltModel:
    """A user's `module:Class`, given `num_classes=` (and `image_size=` when it takes one)."""
    cls = import_class(cfg.name, "model.name")
    if not issubclass(cls, nn.Module):
        raise UserError(f"class '{cfg.name}' is not a torch.nn.Module subclass", key="model.name")
    if backbone_weights:
        raise UserError(
            f"{cfg.name}: backbone weights only load into the named detectors; load them in "
            "your class or set model.weights to a whole-model file",
            key="model.backbone_weights",
        )
    try:
        params: Mapping[str, inspect.Parameter] = inspect.signature(cls).parameters
    except (TypeError, ValueError):  # a class whose signature cannot be read: pass nothing
        params = {}
    kwargs = dict(cfg.kwargs)
    if "num_classes" in params:
        kwargs.setdefault("num_classes", num_classes)
    if "image_size" in params:
        kwargs.setdefault("image_size", image_size)
    model = construct(cfg.name, cls, kwargs, cfg.kwargs)
    notes: list[str] = []
    if cfg.weights:
        if not is_weights_file(cfg.weights):
            raise UserError(f"'{cfg.weights}' is not a file", key="model.weights")
        state = dw.read_state(Path(cfg.weights), "model.weights")
        dw.load_matching(model, state, f"'{cfg.weights}'", "model.weights")
        notes.append(f"loaded weights from {cfg.weights}")
    names = {name for name, _ in model.named_modules()}
    head = "roi_heads" if "roi_heads" in names else "head" if "head" in names else ""
    backbone = next((b for b in ("backbone.body", "backbone") if b in names), "")
    return BuiltModel(model, head, 3, notes, backbone=backbone)
