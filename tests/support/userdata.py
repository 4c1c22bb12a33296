"""User datasets for tests, named as `data.name=support.userdata:Class` (tests/ on pythonpath)."""

from __future__ import annotations

import random
import time
from typing import ClassVar

import numpy as np
import torch
from torch.utils.data import Dataset


class DigitsArrays(Dataset):
    """scikit-learn's digits as (8, 8) uint8 numpy images and numpy integer labels.

    `part`: "all", or "train" / "val" (the first `val` samples are the validation set).
    """

    classes: ClassVar[list[str]] = [str(k) for k in range(10)]

    def __init__(self, part: str = "all", val: int = 300, limit: int | None = None) -> None:
        from sklearn.datasets import load_digits

        digits = load_digits()
        images = np.clip(digits.images * 16, 0, 255).astype(np.uint8)
        labels = digits.target.astype(np.int64)
        if part == "train":
            images, labels = images[val:], labels[val:]
        elif part == "val":
            images, labels = images[:val], labels[:val]
        if limit is not None:
            images, labels = images[:limit], labels[:limit]
        self.images, self.labels = images, labels

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> tuple[np.ndarray, np.int64]:
        return self.images[index], self.labels[index]


class DigitsJitter(DigitsArrays):
    """Digits with random transforms inside __getitem__, drawn from torch's, numpy's and
    Python's global generators (as torchvision transforms and hand-written ones do)."""

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        image = torch.from_numpy(self.images[index].copy()).float()[None] / 255
        image = image + 0.05 * torch.randn(image.shape)  # torch's global generator
        if random.random() < 0.5:  # Python's
            image = image.flip(-1)
        shift = int(np.random.randint(-1, 2))  # numpy's
        return image.roll(shift, dims=-2), int(self.labels[index])


class SleepyDigits(DigitsArrays):
    """Digits whose every item takes `sleep` seconds to read (a slow disk or decode): with
    `data.num_workers=0` the loop waits on the data. `data.kwargs={sleep: 0.01, limit: 200}`."""

    def __init__(self, part: str = "all", val: int = 300, limit: int | None = None,
                 sleep: float = 0.005) -> None:  # fmt: skip
        super().__init__(part, val, limit)
        self.sleep = sleep

    def __getitem__(self, index: int) -> tuple[np.ndarray, np.int64]:
        time.sleep(self.sleep)
        return super().__getitem__(index)


class FlatImages(DigitsArrays):
    """Items whose image is a flat vector: refused before anything is written."""

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        return torch.zeros(64), int(self.labels[index])


class TextLabels(DigitsArrays):
    """Items whose label is a string: refused before anything is written."""

    def __getitem__(self, index: int) -> tuple[np.ndarray, str]:
        return self.images[index], "seven"


class Unnumbered(Dataset):
    """A dataset that says nothing of its classes (data.num_classes must)."""

    def __len__(self) -> int:
        return 8

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        return torch.zeros(1, 8, 8), index % 2


class SquareMasks(Dataset):
    """Segmentation: a bright square on noise, its (H, W) mask (1 inside, 0 outside)."""

    classes: ClassVar[list[str]] = ["background", "square"]

    def __init__(self, n: int = 64, size: int = 16, seed: int = 0) -> None:
        gen = torch.Generator().manual_seed(seed)
        self.items = []
        for _ in range(n):
            img = torch.rand(1, size, size, generator=gen) * 0.3
            mask = torch.zeros(size, size, dtype=torch.int64)
            y, x = torch.randint(0, size // 2, (2,), generator=gen).tolist()
            img[:, y : y + size // 2, x : x + size // 2] += 0.7
            mask[y : y + size // 2, x : x + size // 2] = 1
            self.items.append((img, mask))

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.items[index]


class BoxesOnNoise(Dataset):
    """Detection: one or two filled rectangles (class 0 dark, class 1 bright) per non-square
    RGB uint8 numpy image, their boxes xyxy in pixels and 0-based labels as tensors."""

    classes: ClassVar[list[str]] = ["dark", "bright"]

    def __init__(self, n: int = 48, width: int = 40, height: int = 30, seed: int = 0) -> None:
        rng = np.random.default_rng(seed)
        self.items = []
        for _ in range(n):
            img = np.full((height, width, 3), 128, np.uint8)
            boxes, labels = [], []
            for _ in range(int(rng.integers(1, 3))):
                w, h = int(rng.integers(6, 16)), int(rng.integers(6, 14))
                x, y = int(rng.integers(0, width - w)), int(rng.integers(0, height - h))
                label = int(rng.integers(0, 2))
                img[y : y + h, x : x + w] = 30 if label == 0 else 230
                boxes.append([x, y, x + w, y + h])
                labels.append(label)
            target = {"boxes": torch.tensor(boxes, dtype=torch.float32), "labels": labels}
            self.items.append((img, target))

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> tuple[np.ndarray, dict]:
        img, target = self.items[index]
        return img, {"boxes": target["boxes"], "labels": torch.tensor(target["labels"])}


class XywhBoxes(BoxesOnNoise):
    """Detection items whose boxes are (k, 5): refused before anything is written."""

    def __getitem__(self, index: int) -> tuple[np.ndarray, dict]:
        img, target = super().__getitem__(index)
        return img, {"boxes": torch.zeros(len(target["labels"]), 5), "labels": target["labels"]}
