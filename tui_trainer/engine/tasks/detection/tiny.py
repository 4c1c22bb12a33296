"""`fcos_tiny`: a small FCOS detector that learns the generated shapes on a CPU in minutes.

A plain conv backbone (BatchNorm, strides 2-4-8-16-32) feeds a two-level feature pyramid
(strides 8 and 16 by default, `levels=3` adds 32) and torchvision's FCOS head with
`head_convs` convs per branch. torchvision's `FCOS` does the rest: the anchor-free targets, the
focal / GIoU / centerness losses, decoding and NMS, so the model follows the detection contract
(train: dict of losses; eval: boxes, scores, labels) exactly as `fcos_resnet50_fpn` does.
"""

from __future__ import annotations

import torch
from torch import nn
from torchvision.models.detection.anchor_utils import AnchorGenerator
from torchvision.models.detection.fcos import FCOS, FCOSHead
from torchvision.ops import FeaturePyramidNetwork


def _conv(in_channels: int, out_channels: int, stride: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
    )


class TinyBody(nn.Module):
    """Stride-2 stages (each conv + conv) down to the coarsest level the pyramid uses; returns
    the last `levels` stages' features."""

    def __init__(self, width: int, levels: int) -> None:
        super().__init__()
        widths = [width, width * 2, width * 4, width * 4, width * 8]
        # only the stages the pyramid reads: a stage no output uses would leave parameters
        # without gradients, which DistributedDataParallel refuses
        widths = widths[: 2 + levels]
        stages = []
        prev = 3
        for w in widths:
            stages.append(nn.Sequential(_conv(prev, w, 2), _conv(w, w, 1)))
            prev = w
        self.stages = nn.ModuleList(stages)
        # strides 8, 16, 32 are stages 2, 3, 4; the pyramid uses the first `levels` of them
        self.taken = list(range(2, 2 + levels))
        self.channels = [widths[i] for i in self.taken]

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """The feature maps of the pyramid's levels, finest first (a dict keeps its order;
        written so that `torch.jit.script` compiles it, as `export --format torchscript` does)."""
        out: dict[str, torch.Tensor] = {}
        last = self.taken[-1]
        for i, stage in enumerate(self.stages):
            if i <= last:
                x = stage(x)
                if i in self.taken:
                    out[str(i)] = x
        return out


class TinyBackbone(nn.Module):
    """`body` + a feature pyramid (`fpn`); `out_channels` as torchvision's detectors expect."""

    def __init__(self, width: int = 16, levels: int = 2, fpn_channels: int = 64) -> None:
        super().__init__()
        self.body = TinyBody(width, levels)
        self.fpn = FeaturePyramidNetwork(self.body.channels, fpn_channels)
        self.out_channels = fpn_channels

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """The pyramid's feature maps."""
        return self.fpn(self.body(x))


def fcos_tiny(
    num_classes: int,
    image_size: int,
    *,
    width: int = 16,
    levels: int = 2,
    fpn_channels: int = 64,
    head_convs: int = 2,
    **kwargs: object,
) -> FCOS:
    """The tiny FCOS for `num_classes` (background included) at a fixed square `image_size`.

    `kwargs` go to torchvision's `FCOS` (score_thresh, nms_thresh, detections_per_img, ...).
    """
    if width < 1 or not 1 <= levels <= 3:
        raise ValueError(f"width must be >= 1 and levels 1..3, got width={width}, levels={levels}")
    if fpn_channels < 32 or fpn_channels % 32:
        raise ValueError(f"fpn_channels must be a multiple of 32 (GroupNorm), got {fpn_channels}")
    backbone = TinyBackbone(width, levels, fpn_channels)
    sizes = tuple((8 * 2**i,) for i in range(levels))
    anchors = AnchorGenerator(sizes, ((1.0,),) * levels)
    head = FCOSHead(fpn_channels, 1, num_classes, num_convs=head_convs)
    return FCOS(
        backbone,
        num_classes,
        min_size=image_size,
        max_size=image_size,
        anchor_generator=anchors,
        head=head,
        **kwargs,
    )
