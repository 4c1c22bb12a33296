"""Classification models: `small_cnn` and any torchvision classification model.

The classification head (the last Linear layer) is replaced for `num_classes`; its name is what
"everything but the head" means for freezing.
"""

from __future__ import annotations

import torch
from torch import nn

from tui_trainer.config.schema import ModelConfig
from tui_trainer.engine.model_parts import (
    construct,
    find_head,
    torchvision_state,
    torchvision_weights,
)
from tui_trainer.errors import UserError


class SmallCNN(nn.Module):
    """The CIFAR-10 tutorial net (conv-pool-conv-pool-fc-fc-fc), sized from the input.

    At 32x32 it is the tutorial's exact network; at smaller sizes the convs are padded so the
    feature map survives (8x8 digits → 2x2 after two pools).
    """

    def __init__(
        self,
        num_classes: int = 10,
        in_channels: int = 3,
        image_size: int = 32,
        channels: tuple[int, int] = (6, 16),
        hidden: tuple[int, int] = (120, 84),
    ) -> None:
        super().__init__()
        pad = 0 if image_size >= 16 else 2
        c1, c2 = channels
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, c1, 5, padding=pad),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(2),
            nn.Conv2d(c1, c2, 5, padding=pad),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(2),
        )
        with torch.no_grad():
            flat = self.features(torch.zeros(1, in_channels, image_size, image_size)).numel()
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear(flat, hidden[0]),
            nn.ReLU(inplace=True),
            nn.Linear(hidden[0], hidden[1]),
            nn.ReLU(inplace=True),
        )
        self.fc = nn.Linear(hidden[1], num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits for a batch of images."""
        return self.fc(self.classifier(self.features(x)))


def _small_cnn(num_classes: int, in_channels: int, image_size: int, kwargs: dict) -> nn.Module:
    try:
        return SmallCNN(num_classes, in_channels, image_size, **kwargs)
    except RuntimeError as exc:  # the probe pass: images too small for two conv-pool stages
        if "size" not in str(exc).lower():
            raise
        detail = " ".join(str(exc).split())
        raise UserError(
            f"small_cnn cannot run on {image_size}x{image_size} ({detail})",
            key="data.image_size",
        ) from None


def _replace_head(model: nn.Module, num_classes: int) -> str:
    head = find_head(model)
    if not head:
        raise UserError("found no Linear layer to use as the classification head", key="model.name")
    parent_name, _, attr = head.rpartition(".")
    parent = model.get_submodule(parent_name) if parent_name else model
    old = getattr(parent, attr)
    if old.out_features != num_classes:
        setattr(parent, attr, nn.Linear(old.in_features, num_classes, bias=old.bias is not None))
    return head


def _torchvision(cfg: ModelConfig, num_classes: int) -> nn.Module:
    from torchvision import models

    name = cfg.name.removeprefix("torchvision.")
    available = models.list_models(module=models)
    if name not in available:
        import difflib

        hint = difflib.get_close_matches(name, [*available, "small_cnn"], n=1)
        extra = f" (did you mean '{hint[0]}'?)" if hint else ""
        raise UserError(
            f"unknown model '{cfg.name}'{extra}; use small_cnn, a torchvision "
            "classification model name, or module:Class",
            key="model.name",
        )
    weights = torchvision_weights(name, cfg.weights)
    model = construct(
        name, lambda **kw: models.get_model(name, weights=None, **kw), dict(cfg.kwargs), cfg.kwargs
    )
    if weights is not None:
        model.load_state_dict(torchvision_state(weights))
    return model


def small_cnn(cfg: ModelConfig, num_classes: int, in_channels: int, image_size: int) -> nn.Module:
    """`small_cnn` sized for the images (`model.kwargs` passed on); its head is `fc`."""
    return construct(
        "small_cnn",
        lambda **kw: _small_cnn(num_classes, in_channels, image_size, kw),
        dict(cfg.kwargs),
        cfg.kwargs,
    )


def torchvision_classifier(cfg: ModelConfig, num_classes: int) -> tuple[nn.Module, str]:
    """(model, head path): a torchvision classification model with its head for `num_classes`."""
    model = _torchvision(cfg, num_classes)
    return model, _replace_head(model, num_classes)
