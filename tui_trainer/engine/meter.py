"""The epoch meter: the training sums of one epoch, on the device until a sync is due.

Three levels, each a device tensor for the loss and the running train metric plus host
counts: the current accumulation window (it joins the epoch when its optimizer step is taken,
and is dropped when the step is skipped), the epoch so far (what a mid-epoch checkpoint keeps),
and the samples since the last progress event (what the progress loss averages).

A task whose model returns its loss in named parts (detection: classification, box regression,
...) gets each part summed the same way (`parts`): the epoch line says `train_loss_<part>` and
the progress events `loss_parts`.
"""

from __future__ import annotations

from typing import Any

import torch

from tui_trainer.engine.distributed import DistContext

EMPTY_STATE: dict[str, Any] = {
    "epoch_loss_sum": 0.0,
    "epoch_correct": 0.0,
    "epoch_seen": 0,
    "epoch_units": 0,
}


class EpochMeter:
    """Loss and train-metric sums of the epoch in progress (see the module docstring)."""

    def __init__(self, device: torch.device, dist: DistContext) -> None:
        self.device = device
        self.dist = dist
        zero = torch.zeros((), device=device)
        self.loss_sum, self.hits = zero.clone(), zero.clone()
        self.seen = self.units = 0  # samples, and units behind `hits` (samples or pixels)
        self.w_loss, self.w_hits = zero.clone(), zero.clone()
        self.w_seen = self.w_units = 0
        self.emit_loss = zero.clone()
        self.emit_seen = 0
        # Named loss parts, made on the first batch that has them (sorted: alike on every rank).
        self.parts: dict[str, torch.Tensor] = {}
        self.w_parts: dict[str, torch.Tensor] = {}
        self.emit_parts: dict[str, torch.Tensor] = {}

    # -- checkpoint state ------------------------------------------------------------------------
    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Carry the partial-epoch sums of a mid-epoch checkpoint (rank 0 holds all ranks')."""
        if not self.dist.is_main:
            state = EMPTY_STATE
        self.loss_sum.fill_(float(state["epoch_loss_sum"]))
        self.hits.fill_(float(state["epoch_correct"]))
        self.seen = int(state["epoch_seen"])
        self.units = int(state.get("epoch_units", state["epoch_seen"]))
        parts = state.get("epoch_parts") or {}
        self._ensure_parts(sorted(parts))
        for name, value in parts.items():
            self.parts[name].fill_(float(value))

    def state_dict(self) -> dict[str, Any]:
        """The partial-epoch sums as floats; over every rank in a multi-process run.

        A collective: every rank calls it at the same point.
        """
        names = list(self.parts)
        values = [float(self.loss_sum), float(self.hits), self.seen, self.units]
        values += [float(self.parts[name]) for name in names]
        if self.dist.enabled:
            values = self.dist.sum_floats(values, self.device)
        loss, hits, seen, units = values[:4]
        state: dict[str, Any] = {
            "epoch_loss_sum": loss,
            "epoch_correct": hits,
            "epoch_seen": int(seen),
            "epoch_units": int(units),
        }
        if names:
            state["epoch_parts"] = dict(zip(names, values[4:], strict=True))
        return state

    # -- the epoch -------------------------------------------------------------------------------
    def begin(self) -> None:
        """(Re)start the epoch's loop: no open window, nothing pending for progress."""
        self.open_window()
        self.emit_loss.zero_()
        self.emit_seen = 0
        for part in self.emit_parts.values():
            part.zero_()

    def open_window(self) -> None:
        """A new accumulation window starts."""
        self.w_loss.zero_()
        self.w_hits.zero_()
        self.w_seen = self.w_units = 0
        for part in self.w_parts.values():
            part.zero_()

    def _ensure_parts(self, names: list[str]) -> None:
        for name in names:
            if name not in self.parts:
                self.parts[name] = torch.zeros((), device=self.device)
                self.w_parts[name] = torch.zeros((), device=self.device)
                self.emit_parts[name] = torch.zeros((), device=self.device)

    def add(
        self,
        loss: torch.Tensor,
        n: int,
        hits: torch.Tensor,
        units: int,
        parts: dict[str, torch.Tensor] | None = None,
    ) -> None:
        """One micro-batch of `n` samples with mean `loss` (and its named `parts`); no host
        sync."""
        loss = loss.detach()
        self.w_loss.add_(loss if loss.dtype == torch.float32 else loss.float(), alpha=n)
        self.w_hits += hits
        self.w_seen += n
        self.w_units += units
        if parts:
            if len(parts) != len(self.w_parts) or not all(k in self.w_parts for k in parts):
                self._ensure_parts(sorted(parts))
            for name, value in parts.items():
                self.w_parts[name].add_(value.detach().float(), alpha=n)

    def window_finite(self) -> bool:
        """Whether the window's loss is finite on every rank (one small sync; skip policy)."""
        bad = (~torch.isfinite(self.w_loss)).to(torch.float32).reshape(1)
        return float(self.dist.all_reduce_sum(bad)) == 0.0

    def commit_window(self) -> None:
        """The window's optimizer step was taken: its sums join the epoch's."""
        self.loss_sum += self.w_loss
        self.hits += self.w_hits
        self.emit_loss += self.w_loss
        self.seen += self.w_seen
        self.units += self.w_units
        self.emit_seen += self.w_seen
        for name, part in self.w_parts.items():
            self.parts[name] += part
            self.emit_parts[name] += part

    def take_progress_loss(self) -> float:
        """Mean loss since the last call (the one host sync per progress event)."""
        loss = float(self.emit_loss) / max(self.emit_seen, 1)
        self.emit_loss.zero_()
        self.emit_seen = 0
        return loss

    def take_progress_parts(self) -> dict[str, float] | None:
        """Mean loss parts since the last progress event (None: the task has none); call it
        before `take_progress_loss`, which resets the count both divide by."""
        seen = self.emit_seen
        if not self.emit_parts:
            return None
        values = torch.stack(list(self.emit_parts.values())).tolist()  # one host sync
        for part in self.emit_parts.values():
            part.zero_()
        return {name: v / max(seen, 1) for name, v in zip(self.emit_parts, values, strict=True)}

    def totals(self) -> tuple[float, float]:
        """(mean loss, train metric) of the epoch over every rank (one reduction).

        Every rank's samples count, padding repeats included.
        """
        loss, seen, hits, units = self.dist.sum_floats(
            [float(self.loss_sum), self.seen, float(self.hits), self.units], self.device
        )
        return loss / max(seen, 1), hits / max(units, 1)

    def part_totals(self) -> dict[str, float]:
        """The epoch's mean loss parts over every rank (empty: the task has none)."""
        if not self.parts:
            return {}
        names = list(self.parts)
        values = self.dist.sum_floats(
            [float(self.parts[n]) for n in names] + [self.seen], self.device
        )
        seen = max(values[-1], 1)
        return {name: v / seen for name, v in zip(names, values[:-1], strict=True)}

    def reset(self) -> None:
        """The epoch ended: start the next one from zero."""
        self.loss_sum.zero_()
        self.hits.zero_()
        self.seen = self.units = 0
        for part in self.parts.values():
            part.zero_()
        self.begin()
