"""Choosing pictures on the device: the fixed sample positions and the k worst rows so far.

Nothing here syncs the host: `TopRows` merges each batch's best candidates into the kept ones
with `torch.topk` over at most k + B rows, and the caller turns the kept rows into host values
once, at the end of the pass (`TopRows.host`).
"""

from __future__ import annotations

from collections.abc import Callable

import torch

Fields = dict[str, torch.Tensor]
"""Named per-row tensors (first dimension: rows), kept together."""


def sample_positions(count: int, total: int) -> list[int]:
    """`count` positions evenly spaced over `total` validation images (the centre of each of
    `count` equal stretches); fewer when there are fewer images. No RNG: the same every pass,
    every run, and after a resume."""
    n = min(max(count, 0), max(total, 0))
    return [((2 * i + 1) * total) // (2 * n) for i in range(n)]


def rows_in_batch(positions: list[int], offset: int, size: int) -> list[int]:
    """The batch rows (0-based within the batch) whose validation positions are in `positions`;
    the batch holds positions offset .. offset + size - 1."""
    return [p - offset for p in positions if offset <= p < offset + size]


class TopRows:
    """The `k` rows with the highest keys offered so far, kept on the device."""

    def __init__(self, k: int) -> None:
        self.k = k
        self.keys: torch.Tensor | None = None
        self.fields: Fields = {}

    def offer(self, keys: torch.Tensor, fields: Callable[[torch.Tensor], Fields]) -> None:
        """A batch's rows: `keys` (B,) and `fields(rows)` giving the chosen rows' fields (called
        once with the batch's best min(k, B) row indices, so only those are prepared)."""
        if self.k <= 0 or keys.numel() == 0:
            return
        take = min(self.k, int(keys.shape[0]))
        top = torch.topk(keys, take).indices
        new_keys, new_fields = keys[top], fields(top)
        if self.keys is None:
            self.keys, self.fields = new_keys, new_fields
            return
        keys_all = torch.cat([self.keys, new_keys])
        fields_all = {n: torch.cat([self.fields[n], new_fields[n]]) for n in new_fields}
        if keys_all.shape[0] > self.k:
            best = torch.topk(keys_all, self.k).indices
            keys_all = keys_all[best]
            fields_all = {n: v[best] for n, v in fields_all.items()}
        self.keys, self.fields = keys_all, fields_all

    def host(self) -> tuple[torch.Tensor, Fields]:
        """(keys, fields) on the CPU, highest key first (ties: lower position first when a
        `position` field is kept); rows whose key is -inf (not candidates) left out."""
        if self.keys is None:
            return torch.zeros(0), {}
        keys = self.keys.float().cpu()
        fields = {n: v.cpu() for n, v in self.fields.items()}
        order = torch.arange(int(keys.shape[0]))
        if "position" in fields:
            order = torch.argsort(fields["position"], stable=True)
        order = order[torch.argsort(-keys[order], stable=True)]
        order = order[keys[order] != float("-inf")]
        return keys[order], {n: v[order] for n, v in fields.items()}
