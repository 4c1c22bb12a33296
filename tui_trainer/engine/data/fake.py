"""Generated images for benchmarks and tests, in the spirit of torchvision's FakeData.

Unlike FakeData (PIL images, ~3,000/s), the tensors are generated once in memory; each class has
a fixed random template under the noise, so a model can actually learn them.
"""

from __future__ import annotations

import torch

from tui_trainer.config.datasets import DATASETS
from tui_trainer.config.schema import RunConfig
from tui_trainer.engine.data.bundle import TensorSplit
from tui_trainer.engine.data.split import holdout_size


def make_fake_split(config: RunConfig) -> TensorSplit:
    """`data.num_samples` 3-channel images of `data.image_size` (default 32), seeded."""
    data = config.data
    spec = DATASETS["fake"]
    size = data.image_size or spec.image_size
    gen = torch.Generator().manual_seed(config.seed)
    n, k = data.num_samples, data.num_classes or spec.default_classes or 10
    templates = torch.rand(k, 3, size, size, generator=gen)
    targets = torch.randint(0, k, (n,), generator=gen)
    noise = torch.rand(n, 3, size, size, generator=gen)
    images = (0.5 * templates[targets] + 0.5 * noise).mul(255).round().to(torch.uint8)
    n_val = holdout_size(n, data.val_split, "images")
    return TensorSplit(
        train_x=images[n_val:],
        train_y=targets[n_val:],
        val_x=images[:n_val],
        val_y=targets[:n_val],
        class_names=[f"class_{i}" for i in range(k)],
        scale=255.0,
        mean=(0.5, 0.5, 0.5),
        std=(0.5, 0.5, 0.5),
    )
