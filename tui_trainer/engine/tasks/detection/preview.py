"""A text picture of one image's boxes for terminals (pure functions, no UI library).

The image is a grid of `cols` characters and about `cols * height / width / 2` lines (terminal
cells are about twice as tall as wide), background `·`. True boxes are drawn in light lines
(┌─┐│└┘) with their class tag on the top edge; predictions in heavy lines (┏━┓┃┗┛), drawn over
the true ones, with "tag score" on their bottom edge, so a good prediction shows as a heavy box
with the true tag above and the predicted one below. A box narrower than a cell is a line, one
cell is □ (true) or ■ (predicted). Class tags are the names' initials when those are distinct
among the classes drawn, else the class numbers; the legend lines say which is which.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

BACKGROUND = "·"
TRUE = "┌┐└┘─│□"  # corners (top-left, top-right, bottom-left, bottom-right), edges, one cell
PRED = "┏┓┗┛━┃■"


def _span(lo: float, hi: float, size: float, cells: int) -> tuple[int, int]:
    """The first and last cell a [lo, hi] pixel range covers on an axis of `size` pixels."""
    a = math.floor(lo / size * cells)
    b = math.ceil(hi / size * cells) - 1
    a = min(max(a, 0), cells - 1)
    return a, min(max(b, a), cells - 1)


def _draw(grid: list[list[str]], cells: tuple[int, int, int, int], chars: str) -> None:
    c1, r1, c2, r2 = cells
    tl, tr, bl, br, h, v, one = tuple(chars)
    if r1 == r2 and c1 == c2:
        grid[r1][c1] = one
        return
    if r1 == r2:
        for c in range(c1, c2 + 1):
            grid[r1][c] = h
        return
    if c1 == c2:
        for r in range(r1, r2 + 1):
            grid[r][c1] = v
        return
    for c in range(c1 + 1, c2):
        grid[r1][c] = h
        grid[r2][c] = h
    for r in range(r1 + 1, r2):
        grid[r][c1] = v
        grid[r][c2] = v
    grid[r1][c1], grid[r1][c2], grid[r2][c1], grid[r2][c2] = tl, tr, bl, br


def _write(grid: list[list[str]], row: int, c1: int, c2: int, text: str, short: str) -> None:
    """`text` (or, when it does not fit, `short`) inside the edge between columns c1 and c2."""
    room = c2 - c1 - 1
    label = text if len(text) <= room else short if len(short) <= room else ""
    for i, ch in enumerate(label):
        grid[row][c1 + 1 + i] = ch


def class_tags(labels: Sequence[int], class_names: Sequence[str]) -> dict[int, str]:
    """A short tag per class id: the names' initials when distinct, else the numbers."""
    ids = sorted({int(v) for v in labels})
    names = [class_names[i] if 0 <= i < len(class_names) else "" for i in ids]
    initials = [n[:1] for n in names]
    if all(initials) and len(set(initials)) == len(initials):
        return dict(zip(ids, initials, strict=True))
    return {i: str(i) for i in ids}


def _score(value: float) -> str:
    text = f"{value:.2f}"
    return text[1:] if text.startswith("0.") else text


def render_boxes(
    width: int,
    height: int,
    true_boxes: np.ndarray,
    true_labels: np.ndarray,
    pred_boxes: np.ndarray,
    pred_labels: np.ndarray,
    pred_scores: np.ndarray,
    class_names: Sequence[str],
    cols: int,
) -> list[str]:
    """An image of `width` x `height` pixels with its true and predicted boxes (xyxy pixels of
    that image; labels 0-based into `class_names`) as text lines: `cols` characters a line,
    then legend lines no wider than `cols` (see the module docstring)."""
    cols = max(2, int(cols))
    rows = max(2, round(cols * height / max(width, 1) / 2))
    grid = [[BACKGROUND] * cols for _ in range(rows)]
    true_boxes = np.asarray(true_boxes, dtype=np.float64).reshape(-1, 4)
    pred_boxes = np.asarray(pred_boxes, dtype=np.float64).reshape(-1, 4)
    true_labels = np.asarray(true_labels).reshape(-1).astype(np.int64)
    pred_labels = np.asarray(pred_labels).reshape(-1).astype(np.int64)
    pred_scores = np.asarray(pred_scores, dtype=np.float64).reshape(-1)
    tags = class_tags([*true_labels.tolist(), *pred_labels.tolist()], class_names)

    def cells(box: np.ndarray) -> tuple[int, int, int, int]:
        c1, c2 = _span(box[0], box[2], width, cols)
        r1, r2 = _span(box[1], box[3], height, rows)
        return c1, r1, c2, r2

    true_cells = [cells(b) for b in true_boxes]
    pred_cells = [cells(b) for b in pred_boxes]
    for cell in true_cells:
        _draw(grid, cell, TRUE)
    for cell in pred_cells:
        _draw(grid, cell, PRED)
    for (c1, r1, c2, _), label in zip(true_cells, true_labels.tolist(), strict=True):
        _write(grid, r1, c1, c2, tags[label], tags[label])
    for (c1, _, c2, r2), label, score in zip(
        pred_cells, pred_labels.tolist(), pred_scores.tolist(), strict=True
    ):
        _write(grid, r2, c1, c2, f"{tags[label]} {_score(score)}", tags[label])
    lines = ["".join(row) for row in grid]
    legend = [f"{TRUE[0]}{TRUE[1]} true", f"{PRED[0]}{PRED[1]} predicted"]
    for i, tag in tags.items():
        name = class_names[i] if 0 <= i < len(class_names) else f"class_{i}"
        legend.append(f"{tag} {name}" if tag != name else tag)
    lines += _wrap(legend, cols)
    return lines


def _wrap(parts: list[str], cols: int) -> list[str]:
    """`parts` joined by two spaces into lines of at most `cols` characters."""
    lines: list[str] = []
    current = ""
    for part in parts:
        part = part[:cols]
        if current and len(current) + 2 + len(part) > cols:
            lines.append(current)
            current = part
        else:
            current = f"{current}  {part}" if current else part
    if current:
        lines.append(current)
    return lines
