"""Drawing tiles (torchvision's box and mask drawing) and a set's captioned grid (PIL).

torchvision is imported where boxes or masks are drawn, never for classification: a
classification run does not load it (tests/functional/test_import_sets.py)."""

from __future__ import annotations

import math

import torch
from PIL import Image, ImageDraw, ImageFont

from tui_trainer.engine.pictures.images import enlarge, nearest
from tui_trainer.engine.pictures.shots import Shot

PALETTE = [
    (230, 25, 75), (60, 180, 75), (255, 225, 25), (0, 130, 200), (245, 130, 48),
    (145, 30, 180), (70, 240, 240), (240, 50, 230), (210, 245, 60), (250, 190, 212),
    (0, 128, 128), (220, 190, 255), (170, 110, 40), (255, 250, 200), (128, 0, 0),
    (170, 255, 195), (128, 128, 0), (255, 215, 180), (0, 0, 128), (128, 128, 128),
]  # fmt: skip
"""One colour per class (class k: PALETTE[k % len]); the background class is not drawn."""
Font = ImageFont.ImageFont | ImageFont.FreeTypeFont
GAP = 2  # pixels between a segmentation tile's panels
TRUE_BOX, PRED_BOX = (0, 200, 0), (230, 0, 0)


def as_rgb8(image: torch.Tensor) -> torch.Tensor:
    """(3, H, W) uint8 from a (1|3, H, W) float image in [0, 1]."""
    rgb = image.expand(3, -1, -1) if image.shape[0] == 1 else image
    return (rgb * 255).round().clamp(0, 255).to(torch.uint8)


def to_pil(image: torch.Tensor) -> Image.Image:
    """A (3, H, W) uint8 tensor as a PIL RGB image."""
    return Image.fromarray(image.permute(1, 2, 0).contiguous().numpy(), "RGB")


def tile(shot: Shot, task: str, size: int, class_names: list[str]) -> Image.Image:
    """The shot's tile: the image (classification), image | true | predicted mask overlays
    (segmentation), or the image with true boxes in green and predicted ones in red with
    "name score" (detection). Each panel's longest side is at least `size` (nearest-upscaled)."""
    small = shot.image
    image = enlarge(small, size)
    scale = image.shape[-1] / small.shape[-1]
    rgb = as_rgb8(image)
    if task == "segmentation" and shot.true_mask is not None and shot.pred_mask is not None:
        h, w = int(rgb.shape[-2]), int(rgb.shape[-1])
        panels = [rgb]
        for mask in (shot.true_mask, shot.pred_mask):
            panels.append(_overlay(rgb, nearest(mask, h, w), len(class_names)))
        gap = torch.zeros(3, h, GAP, dtype=torch.uint8)
        return to_pil(torch.cat([panels[0], gap, panels[1], gap, panels[2]], dim=2))
    if task == "detection" and shot.true_boxes is not None and shot.pred_boxes is not None:
        from torchvision.utils import draw_bounding_boxes

        true, pred = shot.true_boxes.clone(), shot.pred_boxes.clone()
        true[:, :4] *= scale
        pred[:, :4] *= scale
        if true.shape[0]:
            rgb = draw_bounding_boxes(rgb, true[:, :4], colors=TRUE_BOX, width=1)
        if pred.shape[0]:
            labels = [f"{_name(class_names, int(c))} {s:.2f}" for s, c in pred[:, 4:6].tolist()]
            rgb = draw_bounding_boxes(rgb, pred[:, :4], labels=labels, colors=PRED_BOX, width=1)
    return to_pil(rgb)


def _overlay(rgb: torch.Tensor, mask: torch.Tensor, num_classes: int) -> torch.Tensor:
    """The image with each foreground class's pixels tinted in its colour."""
    classes = list(range(1, max(num_classes, 2)))
    masks = torch.stack([mask == k for k in classes])
    if not bool(masks.any()):
        return rgb
    colors = [PALETTE[k % len(PALETTE)] for k in classes]
    from torchvision.utils import draw_segmentation_masks

    return draw_segmentation_masks(rgb, masks, alpha=0.5, colors=colors)


def _name(class_names: list[str], k: int) -> str:
    return class_names[k] if 0 <= k < len(class_names) else f"class_{k}"


def grid(tiles: list[Image.Image], captions: list[list[str]], columns: int = 8) -> Image.Image:
    """All tiles in rows of at most `columns`, each with its caption lines under it (PIL's
    default font, cut to the tile's width)."""
    font = ImageFont.load_default()
    if not tiles:
        return Image.new("RGB", (1, 1), "white")
    cell_w = max(t.width for t in tiles) + 8
    cols = min(columns, len(tiles), max(1, 1600 // cell_w))  # wide tiles: fewer per row
    line_h = 12
    lines = max((len(c) for c in captions), default=0)
    cell_h = max(t.height for t in tiles) + 6 + line_h * lines
    rows = math.ceil(len(tiles) / cols)
    sheet = Image.new("RGB", (cols * cell_w, rows * cell_h), "white")
    draw = ImageDraw.Draw(sheet)
    for n, (t, caption) in enumerate(zip(tiles, captions, strict=True)):
        x, y = (n % cols) * cell_w + 4, (n // cols) * cell_h + 2
        sheet.paste(t, (x, y))
        for i, text in enumerate(caption):
            draw.text((x, y + t.height + 2 + i * line_h), _fit(draw, text, font, cell_w - 6),
                      fill="black", font=font)  # fmt: skip
    return sheet


def _fit(draw: ImageDraw.ImageDraw, text: str, font: Font, width: int) -> str:
    """`text` cut (with "…" → "..") so it fits `width` pixels."""
    if draw.textlength(text, font=font) <= width:
        return text
    while text and draw.textlength(text + "..", font=font) > width:
        text = text[:-1]
    return text + ".."
