"""Text renderings of segmentation masks for terminals (pure functions, no UI library).

Binary masks use half blocks (▀ ▄ █), two mask rows per text line, so a square mask looks
square in a terminal whose cells are about twice as tall as wide. Multi-class masks use one
shade per class (background ·, then ░ ▒ ▓ █, then digits), one cell per 1 x 2 pixels block.
"""

from __future__ import annotations

import torch

GAP = 3
CLASS_CHARS = "·░▒▓█" + "56789"
_HALF = {(False, False): "·", (True, False): "▀", (False, True): "▄", (True, True): "█"}


def _resample(mask: torch.Tensor, rows: int, cols: int) -> torch.Tensor:
    """Nearest-neighbour resample of an (H, W) mask to (rows, cols) (pixel centres)."""
    h, w = mask.shape
    r = ((torch.arange(rows) + 0.5) * h / rows).long().clamp_max(h - 1)
    c = ((torch.arange(cols) + 0.5) * w / cols).long().clamp_max(w - 1)
    return mask[r][:, c]


def render_mask(mask: torch.Tensor, width: int, binary: bool | None = None) -> list[str]:
    """One (H, W) class-index mask as text lines of `width` characters (at most W).

    `binary` forces the half-block style (True) or the per-class shades (False); by default
    masks whose values are all 0 or 1 are binary.
    """
    mask = mask.detach().to("cpu", torch.int64)
    if mask.dim() != 2:
        raise ValueError(f"expected an (H, W) mask, got shape {tuple(mask.shape)}")
    h, w = mask.shape
    cols = max(1, min(width, w))
    if binary is None:
        binary = int(mask.max()) <= 1 if mask.numel() else True
    if binary:
        rows = max(2, 2 * round(cols * h / w / 2))
        grid = _resample(mask, rows, cols) > 0
        top, bottom = grid[0::2].tolist(), grid[1::2].tolist()
        return [
            "".join(_HALF[(a, b)] for a, b in zip(t, bt, strict=True))
            for t, bt in zip(top, bottom, strict=True)
        ]
    rows = max(1, round(cols * h / w / 2))
    cells = _resample(mask, rows, cols).clamp(0, len(CLASS_CHARS) - 1).tolist()
    return ["".join(CLASS_CHARS[v] for v in row) for row in cells]


def render_mask_pair(
    pred: torch.Tensor,
    true: torch.Tensor,
    width: int,
    class_names: list[str] | None = None,
) -> list[str]:
    """A predicted mask next to the true one, as text lines at most `width` characters wide.

    `pred` and `true` are (H, W) class-index masks (0 = background), any device or integer
    dtype. The first line is a "predicted  true" header (just "pred" in narrow panels);
    multi-class masks get a legend line when `class_names` is given. Each panel is at most
    (width − 3) // 2 characters wide (and at most the mask's width); both use the same style.
    Every line is at most `width` characters.
    """
    pred, true = pred.detach().to("cpu", torch.int64), true.detach().to("cpu", torch.int64)
    panel = max(1, (width - GAP) // 2)
    binary = int(max(pred.max(), true.max())) <= 1 if pred.numel() and true.numel() else True
    left = render_mask(pred, panel, binary)
    right = render_mask(true, panel, binary)
    label = "predicted" if panel >= len("predicted") else "pred"
    cols = max(len(left[0]) if left else panel, len(label))
    lines = [label.ljust(cols) + " " * GAP + "true"]
    for i in range(max(len(left), len(right))):
        a = left[i] if i < len(left) else ""
        b = right[i] if i < len(right) else ""
        lines.append((a.ljust(cols) + " " * GAP + b).rstrip())
    if not binary and class_names:
        legend = [
            f"{CLASS_CHARS[i]} {name}"
            for i, name in enumerate(class_names[: len(CLASS_CHARS)])
            if i > 0
        ]
        lines.append("  ".join(legend))
    return [line[:width] for line in lines]
