"""Build the network for a run: pick the builder by `model.name` (`config.tasks.model_kind`).

`small_cnn` and torchvision classifiers come from `engine.tasks.classification.models`, `unet`
and torchvision segmentation models from `engine.tasks.segmentation.models`, a user's
`module:Class` (either task) from `engine.model_parts`; a weights file is loaded into the first
and the last.
"""

from __future__ import annotations

from torch import nn

from tui_trainer.config.schema import ModelConfig
from tui_trainer.config.tasks import is_weights_file, model_kind
from tui_trainer.engine.model_parts import (
    BuiltModel,
    count_params,
    find_head,
    has_batchnorm,
    load_weights_file,
    user_model,
)
from tui_trainer.engine.tasks.classification.models import small_cnn, torchvision_classifier

__all__ = ["BuiltModel", "build_model", "count_params", "has_batchnorm"]
# BuiltModel, count_params and has_batchnorm live in model_parts; named here too for importers
# of the old module (engine.loop until its import moves).


def build_model(
    cfg: ModelConfig,
    num_classes: int,
    in_channels: int,
    image_size: int,
    task: str = "classification",
) -> BuiltModel:
    """Build the configured model with a head for `num_classes` and load `cfg.weights`.

    A detector (`task` detection) gets one class more: index 0 is the background
    (`engine.tasks.detection.task`).
    """
    kind = model_kind(cfg.name)
    if kind == "segmentation":  # unet, torchvision FCN / DeepLabV3 / LR-ASPP
        from tui_trainer.engine.tasks.segmentation.models import build_segmentation_model

        return build_segmentation_model(cfg, num_classes, in_channels)
    if task == "detection":  # torchvision's detectors, ours, or a user's module:Class
        from tui_trainer.engine.tasks.detection.models import build_detection_model

        return build_detection_model(cfg, num_classes + 1, image_size)
    notes: list[str] = []
    model: nn.Module
    if kind == "small_cnn":
        model, head = small_cnn(cfg, num_classes, in_channels, image_size), "fc"
    elif kind == "user":
        model = user_model(cfg, num_classes, in_channels)
        head = find_head(model)
    else:
        model, head = torchvision_classifier(cfg, num_classes)
        in_channels = 3
    if cfg.weights and (kind != "torchvision" or is_weights_file(cfg.weights)):
        notes += load_weights_file(model, cfg.weights, head)
    return BuiltModel(model, head, in_channels, notes)
