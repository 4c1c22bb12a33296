"""Letterbox, mosaic and box-aware training augmentation of one detection sample.

Images are uint8 (3, H, W) tensors, boxes float32 (k, 4) xyxy pixels, labels int64 (k,).
`letterbox` brings an image to `size` x `size` keeping its aspect ratio (grey 114 padding,
centred) and records the (scale, pad_x, pad_y) that maps original pixels to network pixels.
`mosaic` places four images around a random centre, the way the seed's YOLO trainer does.
`Augmenter` runs torchvision `transforms.v2` (flip, scale jitter, colour jitter, clamping and
`SanitizeBoundingBoxes`) on `tv_tensors.BoundingBoxes`; every random draw comes from the
generator the caller passes, and v2's own draws (which use torch's global RNG) run under a
forked RNG seeded from it, so the caller's global RNG is never disturbed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torchvision import tv_tensors
from torchvision.transforms import v2
from torchvision.transforms.v2 import functional as F

GREY = 114  # the padding value (114/255 as a float image), as YOLO pads
MIN_BOX = 2.0  # boxes narrower or lower than this many pixels after augmentation are dropped


@dataclass(frozen=True)
class DetectAugment:
    """Training-time randomness of a detection loader."""

    hflip: bool = False  # horizontal flip with p = 0.5
    scale: float = 0.0  # scale jitter: factor drawn in [1 - scale, 1 + scale] (0: off)
    color: float = 0.0  # colour jitter strength (brightness/contrast/saturation; 0: off)
    mosaic: float = 0.0  # probability of a 4-image mosaic per training sample
    mosaic_until: float = 1.0  # mosaic only while epoch < mosaic_until * epochs (the seed: 0.7)

    @property
    def active(self) -> bool:
        """Whether anything is drawn: with nothing on, samples skip the v2 pipeline (its clamp
        and sanitize have nothing to do on letterboxed boxes, and cost ~1 ms a sample)."""
        return self.hflip or self.scale > 0 or self.color > 0 or self.mosaic > 0

    def mosaic_on(self, epoch: int, epochs: int) -> bool:
        """Whether mosaic may be drawn in `epoch` of a run of `epochs`."""
        return self.mosaic > 0 and epoch < self.mosaic_until * epochs


@dataclass(frozen=True)
class Letterbox:
    """How an original image maps onto the network input: `net = orig * scale + pad`."""

    scale: float
    pad_x: int
    pad_y: int
    width: int  # the resized image's size inside the square
    height: int

    def as_tensor(self) -> torch.Tensor:
        """The target's `letterbox` entry: float32 (scale, pad_x, pad_y, 0)."""
        return torch.tensor([self.scale, self.pad_x, self.pad_y, 0.0], dtype=torch.float32)


def to_chw(rgb: np.ndarray) -> torch.Tensor:
    """A uint8 (H, W, 3) array as a uint8 (3, H, W) tensor (a view where possible)."""
    if not rgb.flags.writeable:  # decoded by PIL: read-only, which torch warns about
        rgb = rgb.copy()
    return torch.from_numpy(np.ascontiguousarray(rgb)).permute(2, 0, 1)


def fit(width: int, height: int, size: int) -> Letterbox:
    """The letterbox of a `width` x `height` image in a `size` square (longer side = size)."""
    scale = size / max(width, height)
    w, h = max(1, round(width * scale)), max(1, round(height * scale))
    return Letterbox(scale, (size - w) // 2, (size - h) // 2, w, h)


def _resize(image: torch.Tensor, box: Letterbox) -> torch.Tensor:
    if (box.height, box.width) == tuple(image.shape[-2:]):
        return image
    return F.resize(image, [box.height, box.width], antialias=True)


def letterbox(
    image: torch.Tensor, boxes: torch.Tensor, size: int
) -> tuple[torch.Tensor, torch.Tensor, Letterbox]:
    """`image` resized into a grey `size` square keeping its aspect ratio, centred; `boxes` mapped
    by exactly the recorded `net = orig * scale + pad` (what evaluation inverts)."""
    box = fit(int(image.shape[-1]), int(image.shape[-2]), size)
    canvas = torch.full((3, size, size), GREY, dtype=torch.uint8)
    canvas[:, box.pad_y : box.pad_y + box.height, box.pad_x : box.pad_x + box.width] = _resize(
        image, box
    )
    pad = torch.tensor([box.pad_x, box.pad_y, box.pad_x, box.pad_y], dtype=torch.float32)
    mapped = boxes.to(torch.float32) * box.scale + pad
    return canvas, mapped.clamp_(0, size), box


def mosaic(
    tiles: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]], size: int, gen: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Four (image, boxes, labels) tiles around a random centre on a grey `size` square.

    As the seed's (and Ultralytics') mosaic on a 2S canvas brought back to S: each tile is
    resized so its longer side is S/2; the centre is drawn in [S/4, 3S/4]; tile 0 ends at the
    centre (top left), 1 starts right of it, 2 below, 3 below right; whatever falls off the
    canvas is cut and the boxes are clipped to the canvas (v2's `clamp_bounding_boxes`).
    """
    half = max(1, size // 2)
    lo, hi = size // 4, size - size // 4
    xc = int(torch.randint(lo, hi + 1, (1,), generator=gen))
    yc = int(torch.randint(lo, hi + 1, (1,), generator=gen))
    canvas = torch.full((3, size, size), GREY, dtype=torch.uint8)
    all_boxes, all_labels = [], []
    for i, (image, boxes, labels) in enumerate(tiles):
        box = fit(int(image.shape[-1]), int(image.shape[-2]), half)
        tile = _resize(image, box)
        w, h = box.width, box.height
        x0 = xc - w if i in (0, 2) else xc  # the tile's top-left corner on the canvas
        y0 = yc - h if i in (0, 1) else yc
        cx0, cy0 = max(x0, 0), max(y0, 0)
        cx1, cy1 = min(x0 + w, size), min(y0 + h, size)
        if cx1 > cx0 and cy1 > cy0:
            canvas[:, cy0:cy1, cx0:cx1] = tile[:, cy0 - y0 : cy1 - y0, cx0 - x0 : cx1 - x0]
        shift = torch.tensor([x0, y0, x0, y0], dtype=torch.float32)
        all_boxes.append(boxes.to(torch.float32) * box.scale + shift)
        all_labels.append(labels)
    placed = tv_tensors.BoundingBoxes(torch.cat(all_boxes), format="XYXY", canvas_size=(size, size))
    clipped = F.clamp_bounding_boxes(placed).as_subclass(torch.Tensor)
    return canvas, clipped, torch.cat(all_labels)


class CentreScale(v2.Transform):
    """Scale jitter about the image centre at the same canvas size: a factor drawn in `scale`,
    the image resized by it, then centre-cropped (zoom in) or padded with grey (zoom out).

    What `RandomAffine(degrees=0, scale=...)` does, with v2's box-aware resize, pad and
    centre crop instead of a grid sample of the whole image (about 6x faster at 640).
    """

    def __init__(self, scale: tuple[float, float]) -> None:
        super().__init__()
        self.scale = scale

    def make_params(self, flat_inputs: list[Any]) -> dict[str, Any]:
        """The factor's new size, drawn from torch's global RNG as v2's transforms draw."""
        h, w = v2.query_size(flat_inputs)
        f = float(torch.empty(1).uniform_(*self.scale))
        return {"size": [max(1, round(h * f)), max(1, round(w * f))], "out": [h, w]}

    def transform(self, inpt: Any, params: dict[str, Any]) -> Any:
        """Resize `inpt` (image or boxes), then pad and/or crop it back around the centre."""
        (nh, nw), (h, w) = params["size"], params["out"]
        out = self._call_kernel(F.resize, inpt, [nh, nw], antialias=True)
        if nh < h or nw < w:
            left, top = max(0, (w - nw) // 2), max(0, (h - nh) // 2)
            right, bottom = max(0, w - nw - left), max(0, h - nh - top)
            fill = GREY if isinstance(inpt, tv_tensors.Image) else 0
            out = self._call_kernel(F.pad, out, [left, top, right, bottom], fill=fill)
        if nh > h or nw > w:
            out = self._call_kernel(F.center_crop, out, [h, w])
        return out


class Augmenter:
    """The v2 pipeline of a `DetectAugment` (flip, scale jitter, colour, clamp, sanitize)."""

    def __init__(self, augment: DetectAugment) -> None:
        steps: list[v2.Transform] = []
        if augment.hflip:
            steps.append(v2.RandomHorizontalFlip(p=0.5))
        if augment.scale > 0:
            steps.append(CentreScale((max(0.05, 1 - augment.scale), 1 + augment.scale)))
        if augment.color > 0:
            c = augment.color
            steps.append(v2.ColorJitter(brightness=c, contrast=c, saturation=c))
        steps += [v2.ClampBoundingBoxes(), v2.SanitizeBoundingBoxes(min_size=MIN_BOX)]
        self.pipeline = v2.Compose(steps)

    def __call__(
        self, image: torch.Tensor, boxes: torch.Tensor, labels: torch.Tensor, gen: torch.Generator
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Augment one square sample; v2's draws are seeded from `gen`, the global RNG kept."""
        size = (int(image.shape[-2]), int(image.shape[-1]))
        sample = {
            "image": tv_tensors.Image(image),
            "boxes": tv_tensors.BoundingBoxes(boxes, format="XYXY", canvas_size=size),
            "labels": labels,
        }
        seed = int(torch.randint(0, 2**62, (1,), generator=gen))
        with torch.random.fork_rng(devices=[]):
            # the CPU generator only: torch.manual_seed would also reseed (and queue a lazy
            # reseed of) every CUDA device, which the fork does not restore
            torch.default_generator.manual_seed(seed)
            out = self.pipeline(sample)
        return (
            out["image"].as_subclass(torch.Tensor),
            out["boxes"].as_subclass(torch.Tensor).to(torch.float32),
            out["labels"],
        )
