"""`run.log` values: summed where they live (a tensor stays on its device) until an event is due.

Adding a tensor is one asynchronous device op, never a host sync; `take` converts the window's
sums to floats once (one `tolist` per device) when a progress event is due.
"""

from __future__ import annotations

import math
from typing import Any

import torch


class Scalars:
    """Per-key sums and counts of the values logged since the last `take`."""

    def __init__(self) -> None:
        self._sums: dict[str, Any] = {}
        self._counts: dict[str, int] = {}

    def add(self, values: dict[str, Any]) -> None:
        """Add one step's values (numbers or one-element tensors)."""
        for key, value in values.items():
            if isinstance(value, torch.Tensor):
                value = value.detach()
                if value.numel() != 1:
                    raise ValueError(
                        f"run.log({key}=...): expected a scalar, got shape {tuple(value.shape)}"
                    )
                value = value.reshape(())
            elif not isinstance(value, (int, float)) or isinstance(value, bool):
                raise ValueError(
                    f"run.log({key}=...): expected a number or a scalar tensor, "
                    f"got {type(value).__name__}"
                )
            have = self._sums.get(key)
            self._sums[key] = value if have is None else have + value
            self._counts[key] = self._counts.get(key, 0) + 1

    @property
    def empty(self) -> bool:
        """Nothing logged since the last `take`."""
        return not self._sums

    def take(self) -> dict[str, float]:
        """The window's means as floats (the host sync happens here), and a fresh window."""
        sums, counts = self._sums, self._counts
        self._sums, self._counts = {}, {}
        tensors = {k: v for k, v in sums.items() if isinstance(v, torch.Tensor)}
        out = {k: float(v) for k, v in sums.items() if k not in tensors}
        by_device: dict[torch.device, list[str]] = {}
        for key, value in tensors.items():
            by_device.setdefault(value.device, []).append(key)
        for keys in by_device.values():
            stacked = torch.stack([tensors[k].to(torch.float64) for k in keys])
            for key, value in zip(keys, stacked.tolist(), strict=True):
                out[key] = value
        return {k: (v / counts[k] if math.isfinite(v) else v) for k, v in out.items()}


def batch_size(batch: Any) -> int | None:
    """Samples in `batch` from the first tensor's leading dimension (metadata: no sync)."""
    for _ in range(4):
        if isinstance(batch, torch.Tensor):
            return int(batch.shape[0]) if batch.dim() else None
        if isinstance(batch, (list, tuple)) and batch:
            batch = batch[0]
        elif isinstance(batch, dict) and batch:
            batch = next(iter(batch.values()))
        else:
            return None
    return None
