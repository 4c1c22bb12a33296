"""Segmentation networks: a classic U-Net and torchvision's FCN / DeepLabV3 / LR-ASPP.

Output channels: 1 for binary data (2 classes: sigmoid), else one per class (softmax).
What "head" means, i.e. what stays trainable under `freeze.enabled`:

- `unet`: the decoder (the expanding path with its 1x1 output conv); the encoder is frozen.
- torchvision models: `model.classifier` (the segmentation head); the backbone is frozen.
"""

from __future__ import annotations

from itertools import pairwise
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from tui_trainer.config.schema import ModelConfig
from tui_trainer.config.tasks import SEGMENTATION_MODELS, is_weights_file
from tui_trainer.engine.model_parts import (
    BuiltModel,
    construct,
    load_weights_file,
    torchvision_state,
    torchvision_weights,
)
from tui_trainer.errors import UserError

TORCHVISION_SEGMENTATION = tuple(name for name in SEGMENTATION_MODELS if name != "unet")


def output_channels(num_classes: int) -> int:
    """1 logit channel for binary segmentation (2 classes), else one per class."""
    return 1 if num_classes == 2 else num_classes


class DoubleConv(nn.Sequential):
    """(3x3 conv → BatchNorm → ReLU) twice."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__(
            nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(inplace=True),
            nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(inplace=True),
        )


class Up(nn.Module):
    """Upsample ×2 (bilinear + 1x1 conv, or a transposed conv), join the skip, DoubleConv."""

    def __init__(self, in_channels: int, out_channels: int, bilinear: bool) -> None:
        super().__init__()
        if bilinear:
            self.up: nn.Module = nn.Sequential(
                nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False),
                nn.Conv2d(in_channels, out_channels, 1),
            )
        else:
            self.up = nn.ConvTranspose2d(in_channels, out_channels, 2, stride=2)
        self.conv = DoubleConv(2 * out_channels, out_channels)

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        """Upsampled `x` joined with the encoder's `skip` features."""
        x = self.up(x)
        dy, dx = skip.shape[-2] - x.shape[-2], skip.shape[-1] - x.shape[-1]
        if dy or dx:  # odd sizes: pad so the maps line up (plain ints, no sync)
            x = F.pad(x, (dx // 2, dx - dx // 2, dy // 2, dy - dy // 2))
        return self.conv(torch.cat([skip, x], dim=1))


class UNetEncoder(nn.Module):
    """The contracting path: a DoubleConv stem, then `depth` × (max-pool, DoubleConv)."""

    def __init__(self, in_channels: int, widths: list[int]) -> None:
        super().__init__()
        self.stem = DoubleConv(in_channels, widths[0])
        self.downs = nn.ModuleList(
            nn.Sequential(nn.MaxPool2d(2), DoubleConv(a, b)) for a, b in pairwise(widths)
        )

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Feature maps from the finest to the coarsest."""
        feats = [self.stem(x)]
        for down in self.downs:
            feats.append(down(feats[-1]))
        return feats


class UNetDecoder(nn.Module):
    """The expanding path plus the 1x1 output conv."""

    def __init__(self, widths: list[int], out_channels: int, bilinear: bool) -> None:
        super().__init__()
        rev = widths[::-1]
        self.ups = nn.ModuleList(Up(a, b, bilinear) for a, b in pairwise(rev))
        self.out = nn.Conv2d(widths[0], out_channels, 1)

    def forward(self, feats: list[torch.Tensor]) -> torch.Tensor:
        """Logits at the input resolution."""
        x = feats[-1]
        for up, skip in zip(self.ups, feats[-2::-1], strict=True):
            x = up(x, skip)
        return self.out(x)


class UNet(nn.Module):
    """U-Net (Ronneberger et al. 2015) with padded convs and BatchNorm: output size = input size.

    `width` is the first level's channel count (64 in the paper), doubled at each of the
    `depth` downsamplings. `bilinear` upsamples bilinearly (+ 1x1 conv) instead of with
    transposed convs. Any input size works (odd sizes are padded at the joins).
    """

    def __init__(
        self,
        num_classes: int = 2,
        in_channels: int = 3,
        width: int = 64,
        depth: int = 4,
        bilinear: bool = False,
    ) -> None:
        super().__init__()
        if width < 1 or depth < 1:
            raise ValueError(f"width and depth must be >= 1, got width={width}, depth={depth}")
        widths = [width * 2**i for i in range(depth + 1)]
        self.encoder = UNetEncoder(in_channels, widths)
        self.decoder = UNetDecoder(widths, output_channels(num_classes), bilinear)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, C_out, H, W) logits."""
        return self.decoder(self.encoder(x))


class TorchvisionSegmentation(nn.Module):
    """A torchvision segmentation model whose forward returns the logits tensor (its "out")."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, C_out, H, W) logits at the input resolution."""
        return self.model(x)["out"]


def _replace_outputs(model: nn.Module, name: str, channels: int) -> None:
    """Point the final 1x1 conv(s) of the segmentation head at `channels` outputs."""
    head = model.get_submodule("classifier")
    if name.startswith("lraspp"):
        attrs = ["low_classifier", "high_classifier"]
    else:  # FCNHead / DeepLabHead: an nn.Sequential whose last module ("3", "4") is the conv
        attrs = [child for child, _ in head.named_children()][-1:]
    for attr in attrs:
        old = head.get_submodule(attr)
        if not isinstance(old, nn.Conv2d):
            raise TypeError(f"{name}: classifier.{attr} is a {type(old).__name__}, not a Conv2d")
        if old.out_channels == channels:
            continue
        setattr(head, attr, nn.Conv2d(old.in_channels, channels, 1))


def _torchvision_segmentation(cfg: ModelConfig, channels: int) -> nn.Module:
    from torchvision import models

    name = cfg.name
    weights = torchvision_weights(name, cfg.weights)
    kwargs = {"weights_backbone": None, "aux_loss": False, **cfg.kwargs}
    built_classes = len(weights.meta["categories"]) if weights is not None else channels
    try:
        model = models.get_model(name, weights=None, num_classes=built_classes, **kwargs)
    except TypeError as exc:
        raise UserError(f"model.kwargs: {name} rejected them: {exc}") from None
    except Exception as exc:  # weights_backbone given but not cached, offline
        raise UserError(
            f"model.kwargs: {name} could not load its backbone weights ({type(exc).__name__}: "
            f"{str(exc).strip().splitlines()[0] if str(exc).strip() else ''}); put them in "
            f"{Path(torch.hub.get_dir()) / 'checkpoints'} or drop weights_backbone"
        ) from None
    if weights is not None:
        state = torchvision_state(weights)
        own = model.state_dict()
        model.load_state_dict({k: v for k, v in state.items() if k in own})
    _replace_outputs(model, name, channels)
    return TorchvisionSegmentation(model)


def build_segmentation_model(cfg: ModelConfig, num_classes: int, in_channels: int) -> BuiltModel:
    """Build `unet` or a torchvision segmentation model for `num_classes` (background included)."""
    channels = output_channels(num_classes)
    if cfg.name == "unet":
        model: nn.Module = construct(
            "unet", lambda **kw: UNet(num_classes, in_channels, **kw), dict(cfg.kwargs), cfg.kwargs
        )
        head = "decoder"
    elif cfg.name in TORCHVISION_SEGMENTATION:
        if in_channels != 3:
            raise UserError(f"model.name: {cfg.name} takes 3-channel images, got {in_channels}")
        model = _torchvision_segmentation(cfg, channels)
        head = "model.classifier"
    else:
        raise UserError(
            f"model.name: '{cfg.name}' is not a segmentation model "
            f"({', '.join(SEGMENTATION_MODELS)})"
        )
    notes: list[str] = []
    if cfg.weights and (cfg.name == "unet" or is_weights_file(cfg.weights)):
        notes += load_weights_file(model, cfg.weights, head)
    return BuiltModel(model, head, in_channels, notes)
