"""`run.log` values: kept where they live (a tensor stays on its device) until an event is due.

Logging a tensor appends a reference (no device op, no host sync); `take` reduces the window
once per key (a stack and a sum) and converts all sums to floats with one `tolist` per device
when a progress event is due. A window that grows past `FOLD_AT` values (logging without
`iterate`, whose events empty it) is folded into one running sum, so memory stays bounded.
"""

from __future__ import annotations

from typing import Any

import torch

from tui_trainer.runlog.layout import RESERVED

FOLD_AT = 1024
"""Values of one key kept before they are summed into one (on the device, asynchronously)."""


class Scalars:
    """Per-key values and counts logged since the last `take`."""

    def __init__(self) -> None:
        self._values: dict[str, list[Any]] = {}
        self._counts: dict[str, int] = {}

    def add(self, values: dict[str, Any]) -> None:
        """Add one step's values (numbers or one-element tensors); ValueError for others."""
        for key, value in values.items():
            if isinstance(value, torch.Tensor):
                if value.dim():  # shape (1,) or (1, 1): one value, kept as a 0-d view
                    if value.numel() != 1:
                        raise ValueError(
                            f"run.log({key}=...): expected a scalar, got shape {tuple(value.shape)}"
                        )
                    value = value.reshape(())
                value = value.detach()
            elif not isinstance(value, (int, float)) or isinstance(value, bool):
                raise ValueError(
                    f"run.log({key}=...): expected a number or a scalar tensor, "
                    f"got {type(value).__name__}"
                )
            kept = self._values.get(key)
            if kept is None:
                self._values[key] = [value]
                self._counts[key] = 1
                continue
            kept.append(value)
            self._counts[key] += 1
            if len(kept) >= FOLD_AT:
                self._values[key] = [_sum(kept)]

    @property
    def empty(self) -> bool:
        """Nothing logged since the last `take`."""
        return not self._values

    def take(self) -> dict[str, float]:
        """The window's means as floats (the host sync happens here), and a fresh window."""
        values, counts = self._values, self._counts
        self._values, self._counts = {}, {}
        sums = {key: _sum(kept) for key, kept in values.items()}
        out = {k: float(v) for k, v in sums.items() if not isinstance(v, torch.Tensor)}
        by_device: dict[torch.device, list[str]] = {}
        for key, value in sums.items():
            if isinstance(value, torch.Tensor):
                by_device.setdefault(value.device, []).append(key)
        for keys in by_device.values():
            stacked = torch.stack([sums[k].reshape(()).to(torch.float64) for k in keys])
            for key, value in zip(keys, stacked.tolist(), strict=True):
                out[key] = value
        return {k: v / counts[k] for k, v in out.items()}


def _sum(kept: list[Any]) -> Any:
    """The sum of numbers and tensors (a tensor when any is one; no host sync)."""
    tensors = [v for v in kept if isinstance(v, torch.Tensor)]
    plain = sum(float(v) for v in kept if not isinstance(v, torch.Tensor))
    if not tensors:
        return plain
    try:  # one op for a window of same-device, same-dtype values (the usual case)
        total = torch.stack(tensors).to(torch.float64).sum()
    except (RuntimeError, TypeError):  # mixed devices or dtypes: bring them together first
        device = tensors[0].device
        total = torch.stack([t.to(device=device, dtype=torch.float64) for t in tensors]).sum()
    return total + plain if plain else total


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


def epoch_values(metrics: dict[str, Any]) -> dict[str, float]:
    """`run.log_epoch`'s values as floats (one-element tensors read); ValueError naming the
    key for a value that is not a number, and for a name the epoch line keeps for itself."""
    out: dict[str, float] = {}
    for key, value in metrics.items():
        if key in RESERVED:
            raise ValueError(
                f"run.log_epoch({key}=...): {key!r} is the epoch line's own "
                f"(reserved: {', '.join(sorted(RESERVED))}); log it under another name"
            )
        if isinstance(value, torch.Tensor) and value.numel() == 1:
            value = value.item()
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            raise ValueError(
                f"run.log_epoch({key}=...): expected a number or a one-element tensor, "
                f"got {type(value).__name__}"
            )
        out[key] = float(value)
    return out
