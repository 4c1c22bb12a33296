"""scikit-learn's handwritten digits: 1,797 real 8x8 images shipped inside the wheel."""

from __future__ import annotations

import torch
from sklearn.datasets import load_digits

from tui_trainer.config.schema import RunConfig
from tui_trainer.engine.data.bundle import TensorSplit
from tui_trainer.engine.data.split import split_indices

DIGITS_MEAN = (0.3053,)
DIGITS_STD = (0.3760,)


def load_digits_split(config: RunConfig) -> TensorSplit:
    """A stratified, seeded train/val split of the digits (pixel values 0-16)."""
    digits = load_digits()
    images = torch.tensor(digits.images, dtype=torch.float32).unsqueeze(1)
    targets = torch.tensor(digits.target, dtype=torch.int64)
    idx_train, idx_val = split_indices(
        len(targets),
        config.data.val_split,
        config.seed,
        what="digits",
        labels=targets.tolist(),
    )
    tr, va = torch.tensor(idx_train), torch.tensor(idx_val)
    return TensorSplit(
        train_x=images[tr],
        train_y=targets[tr],
        val_x=images[va],
        val_y=targets[va],
        class_names=[str(int(n)) for n in digits.target_names],
        scale=16.0,
        mean=DIGITS_MEAN,
        std=DIGITS_STD,
    )
