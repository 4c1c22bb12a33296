"""Generated segmentation data: random ellipses, rectangles and triangles with exact masks.

Everything is computed once, vectorised over the whole set (no per-image Python), from a seeded
generator: the same seed gives the same images on every machine. Each shape's colour differs
from a textured background of any colour, darker or brighter per channel, so no single
threshold finds them. Shapes may overlap: the later one covers the earlier, in the image and in
the mask alike. A small U-Net learns the binary task in about a minute on a CPU.
"""

from __future__ import annotations

import math

import torch

from tui_trainer.config.datasets import DATASETS
from tui_trainer.config.schema import RunConfig
from tui_trainer.engine.data.bundle import TensorSplit
from tui_trainer.engine.data.split import holdout_size
from tui_trainer.engine.tasks.segmentation.loader import checked_class_names
from tui_trainer.errors import UserError

SHAPE_KINDS = ("ellipse", "rectangle", "triangle")
DEFAULT_SIZE = DATASETS["shapes"].image_size


def _inside_triangle(
    x: torch.Tensor, y: torch.Tensor, vx: torch.Tensor, vy: torch.Tensor
) -> torch.Tensor:
    """Pixels (x, y: (N, S, S)) inside the triangles with vertices vx, vy: (N, 3)."""
    signs = []
    for a, b in ((0, 1), (1, 2), (2, 0)):
        ax, ay = vx[:, a, None, None], vy[:, a, None, None]
        bx, by = vx[:, b, None, None], vy[:, b, None, None]
        signs.append((bx - ax) * (y - ay) - (by - ay) * (x - ax))
    s = torch.stack(signs)
    return (s >= 0).all(0) | (s <= 0).all(0)


def make_shapes(
    n: int, size: int, *, multiclass: bool, seed: int, max_shapes: int = 3
) -> tuple[torch.Tensor, torch.Tensor]:
    """`n` RGB uint8 images (N, 3, size, size) and their uint8 masks (N, size, size).

    Mask values: 0 background; binary: 1 for any shape; multi-class: 1 ellipse, 2 rectangle,
    3 triangle. Each image holds 1 to `max_shapes` shapes.
    """
    gen = torch.Generator().manual_seed(seed)

    def rand(*shape: int) -> torch.Tensor:
        return torch.rand(*shape, generator=gen)

    coords = (torch.arange(size, dtype=torch.float32) + 0.5) / size
    yy, xx = torch.meshgrid(coords, coords, indexing="ij")
    xx, yy = xx.expand(n, size, size), yy.expand(n, size, size)
    # A background of any colour, shaded and textured by two random low-frequency waves.
    base = rand(n, 3, 1, 1)
    texture = torch.zeros(n, 1, size, size)
    for _ in range(2):
        fx, fy = (rand(n, 1, 1, 1) - 0.5) * 12, (rand(n, 1, 1, 1) - 0.5) * 12
        phase = 2 * math.pi * rand(n, 1, 1, 1)
        texture += 0.06 * torch.sin(fx * xx[:, None] + fy * yy[:, None] + phase)
    image = (base + texture).expand(n, 3, size, size).clone()
    mask = torch.zeros(n, size, size, dtype=torch.uint8)
    count = torch.randint(1, max_shapes + 1, (n,), generator=gen)
    for slot in range(max_shapes):
        kind = torch.randint(0, 3, (n,), generator=gen)
        cx, cy = 0.15 + 0.7 * rand(n), 0.15 + 0.7 * rand(n)
        a = 0.08 + 0.17 * rand(n)  # half-length along the shape's own x axis
        b = a * (0.5 + 0.5 * rand(n))  # half-length along its y axis
        theta = math.pi * rand(n)
        cos, sin = theta.cos()[:, None, None], theta.sin()[:, None, None]
        dx, dy = xx - cx[:, None, None], yy - cy[:, None, None]
        u, v = dx * cos + dy * sin, -dx * sin + dy * cos
        ai, bi = a[:, None, None], b[:, None, None]
        ellipse = (u / ai) ** 2 + (v / bi) ** 2 <= 1
        rectangle = (u.abs() <= ai) & (v.abs() <= bi)
        angles = theta[:, None] + torch.tensor([0.0, 2.0, 4.0]) * math.pi / 3
        angles = angles + (rand(n, 3) - 0.5) * 0.8
        radius = 1.3 * a[:, None]
        vx, vy = cx[:, None] + radius * angles.cos(), cy[:, None] + radius * angles.sin()
        triangle = _inside_triangle(xx, yy, vx, vy)
        inside = torch.stack([ellipse, rectangle, triangle], 1)
        inside = inside.gather(1, kind[:, None, None, None].expand(n, 1, size, size))[:, 0]
        inside &= (slot < count)[:, None, None]
        # Each channel differs from the background by 0.25-0.75: darker or brighter.
        colour = (base + 0.25 + 0.5 * rand(n, 3, 1, 1)) % 1.0
        image = torch.where(inside[:, None], colour, image)
        label = (kind + 1).to(torch.uint8) if multiclass else torch.ones(n, dtype=torch.uint8)
        mask = torch.where(inside, label[:, None, None], mask)
    image = image + 0.04 * torch.randn(n, 3, size, size, generator=gen)
    pixels = image.clamp(0, 1).mul(255).round().to(torch.uint8)
    return pixels, mask


def make_shapes_split(config: RunConfig) -> TensorSplit:
    """`data.num_samples` images of `data.image_size` (default 64), the first val_split for val."""
    data = config.data
    classes = data.num_classes or DATASETS["shapes"].default_classes or 2
    if classes not in (2, 4):
        raise UserError(
            f"data.num_classes: shapes has 2 classes (binary) or 4 (background, "
            f"{', '.join(SHAPE_KINDS)}), got {classes}"
        )
    size = data.image_size or DEFAULT_SIZE
    images, masks = make_shapes(
        data.num_samples,
        size,
        multiclass=classes == 4,
        seed=config.seed,
        max_shapes=data.max_shapes,
    )
    n_val = holdout_size(data.num_samples, data.val_split, "images")
    default = ["background", "shape"] if classes == 2 else ["background", *SHAPE_KINDS]
    return TensorSplit(
        train_x=images[n_val:],
        train_y=masks[n_val:],
        val_x=images[:n_val],
        val_y=masks[:n_val],
        class_names=checked_class_names(config, classes, default),
        scale=255.0,
        mean=(0.5, 0.5, 0.5),
        std=(0.5, 0.5, 0.5),
    )
