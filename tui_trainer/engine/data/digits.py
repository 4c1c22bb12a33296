"""scikit-learn's handwritten digits: 1,797 real 8x8 images shipped inside the wheel.

The images are read straight from the wheel's `datasets/data/digits.csv.gz`, as `load_digits`
reads them, without importing scikit-learn (about a second of start-up, with scipy); when that
file is not where it is expected, `load_digits` itself is used. Both give the same arrays
(tests/unit/test_startup_equivalence.py).
"""

from __future__ import annotations

import gzip
import importlib.util
from pathlib import Path

import numpy as np
import torch

from tui_trainer.config.schema import RunConfig
from tui_trainer.engine.data.bundle import TensorSplit
from tui_trainer.engine.data.split import split_indices

DIGITS_MEAN = (0.3053,)
DIGITS_STD = (0.3760,)


def _digits_csv() -> Path | None:
    """scikit-learn's digits.csv.gz, found without importing scikit-learn; None if absent."""
    spec = importlib.util.find_spec("sklearn")
    for folder in (spec.submodule_search_locations or []) if spec else []:
        path = Path(folder) / "datasets" / "data" / "digits.csv.gz"
        if path.is_file():
            return path
    return None


def digits_arrays() -> tuple[np.ndarray, np.ndarray]:
    """(images (1797, 8, 8) float64 with values 0-16, targets (1797,) int): `load_digits()`'s
    `images` and `target`."""
    path = _digits_csv()
    if path is None:
        from sklearn.datasets import load_digits

        digits = load_digits()
        return digits.images, digits.target
    with gzip.open(path, mode="rt", encoding="utf-8") as f:
        data = np.loadtxt(f, delimiter=",")
    return data[:, :-1].reshape(-1, 8, 8), data[:, -1].astype(int, copy=False)


def load_digits_split(config: RunConfig) -> TensorSplit:
    """A stratified, seeded train/val split of the digits (pixel values 0-16)."""
    pixels, labels = digits_arrays()
    images = torch.tensor(pixels, dtype=torch.float32).unsqueeze(1)
    targets = torch.tensor(labels, dtype=torch.int64)
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
        class_names=[str(n) for n in range(10)],  # load_digits' target_names
        scale=16.0,
        mean=DIGITS_MEAN,
        std=DIGITS_STD,
    )
