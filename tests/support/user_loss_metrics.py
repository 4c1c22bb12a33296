"""A user's own loss and metric classes, written as a temporary module (`write_module`).

Tests name them as `loss.name=<module>:ScaledCE`, `metrics=[<module>:ErrorRate]`, ...
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

MODULE = "h2_user_code"

SOURCE = '''
import torch
from torch import nn
from torchmetrics import Metric


class ScaledCE(nn.Module):
    """Cross-entropy times `scale`."""

    def __init__(self, scale=1.0):
        super().__init__()
        self.scale = scale

    def forward(self, logits, targets):
        return self.scale * nn.functional.cross_entropy(logits, targets)


class HeavyClassCE(nn.Module):
    """Cross-entropy with class `heavy` weighted `weight` times the others."""

    def __init__(self, heavy=0, weight=50.0, num_classes=10):
        super().__init__()
        w = torch.ones(num_classes)
        w[heavy] = weight
        self.register_buffer("w", w)

    def forward(self, logits, targets):
        return nn.functional.cross_entropy(logits, targets, weight=self.w)


class ErrorRate(Metric):
    """The fraction of wrong argmax predictions: lower is better."""

    higher_is_better = False

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.add_state("wrong", torch.tensor(0.0), dist_reduce_fx="sum")
        self.add_state("n", torch.tensor(0.0), dist_reduce_fx="sum")

    def update(self, logits, targets):
        self.wrong += (logits.argmax(1) != targets).sum()
        self.n += targets.numel()

    def compute(self):
        return self.wrong / self.n


class PredictedRate(Metric):
    """The fraction of samples predicted as class `which`."""

    def __init__(self, which=0, **kwargs):
        super().__init__(**kwargs)
        self.which = which
        self.add_state("hits", torch.tensor(0.0), dist_reduce_fx="sum")
        self.add_state("n", torch.tensor(0.0), dist_reduce_fx="sum")

    def update(self, logits, targets):
        self.hits += (logits.argmax(1) == self.which).sum()
        self.n += targets.numel()

    def compute(self):
        return self.hits / self.n


class Seen(Metric):
    """The number of validation samples seen (gathered over the ranks that saw a shard)."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.add_state("n", torch.tensor(0.0), dist_reduce_fx="sum")

    def update(self, logits, targets):
        self.n += targets.shape[0]

    def compute(self):
        return self.n


class NotAMetric:
    pass
'''


def write_module(folder: Path) -> str:
    """Write the module into `folder` (put on sys.path) and return its name."""
    (folder / f"{MODULE}.py").write_text(SOURCE)
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))
    sys.modules.pop(MODULE, None)
    importlib.invalidate_caches()
    return MODULE
