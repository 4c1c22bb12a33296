"""The training toggles the loop consults at its turns: speed set-up, batch mixing, EMA weights,
early stopping, and what the summary and checkpoints say about them.

One object per run, so the loop calls a handful of methods and knows none of the details:
`prepare_batch` (channels_last, Mixup/CutMix), `training_net` (torch.compile with its eager
fallback), `after_step` (EMA update), `eval_model` (EMA or live weights), `should_stop`
(early stopping), `state_dict`/`load_state_dict` (checkpoints) and `summary`. Gradient
clipping lives in the step itself (`Stepper`), since it sits between backward and the optimizer
step. The config is read through the run's `CurrentConfig`: a change made while running is
seen here too.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from tui_trainer.engine.early_stop import EarlyStop, early_stop
from tui_trainer.engine.ema import ModelEma
from tui_trainer.engine.mixing import BatchMixer
from tui_trainer.engine.speed import (
    CompiledNet,
    apply_backend_flags,
    batch_memory_format,
    to_channels_last,
)
from tui_trainer.engine.stateful import CurrentConfig


class Toggles:
    """Clipping aside, every optional training behaviour of one run."""

    def __init__(
        self, current: CurrentConfig, model: nn.Module, device: torch.device, num_classes: int
    ) -> None:
        self.current = current
        config = current.value
        self.setup_notes = apply_backend_flags(config, device)
        self.channels_last = config.channels_last
        if self.channels_last:
            to_channels_last(model)
        mixer = BatchMixer(config.data.augment, num_classes)
        self.mixer = mixer if mixer.enabled and config.task == "classification" else None
        self.ema = ModelEma(model, config.ema) if config.ema.enabled else None
        self.stopped: EarlyStop | None = None
        self._stop_message = ""
        self.compile_state = "off"
        self._on_note: Callable[[str], None] | None = None
        self._pending: list[str] = []  # compile fallbacks found before anyone listens

    # -- the step --------------------------------------------------------------------------------
    def training_net(self, net: nn.Module) -> nn.Module:
        """What training steps call: `net` compiled when `compile` is on (again on re-wrap)."""
        config = self.current.value
        if not config.compile:
            return net
        compiled = CompiledNet(net, mode=config.compile_mode, on_fallback=self._compile_fell_back)
        if compiled.active:
            self.compile_state = "compiled"
        return compiled

    def _compile_fell_back(self, reason: str) -> None:
        self.compile_state = f"eager ({reason})"
        self._pending.append(f"compile: {reason}")
        self._flush()

    def listen(self, on_note: Callable[[str], None]) -> None:
        """Where changes made while running go (a compile fallback), earlier ones included."""
        self._on_note = on_note
        self._flush()

    def _flush(self) -> None:
        if self._on_note is not None:
            pending, self._pending = self._pending, []
            for note in pending:
                self._on_note(note)

    def prepare_batch(self, x: torch.Tensor, y: Any) -> tuple[torch.Tensor, Any, Any]:
        """(inputs, loss targets, hard labels for the train metric) of a training batch (a
        task's own targets, such as box dicts, pass through)."""
        x = batch_memory_format(x, self.channels_last)
        if self.mixer is None:
            return x, y, y
        mixed = self.mixer(x, y)
        return mixed.images, mixed.targets, mixed.labels

    def eval_batch(self, x: torch.Tensor) -> torch.Tensor:
        """A validation batch in the model's memory format."""
        return batch_memory_format(x, self.channels_last)

    def after_step(self, model: nn.Module) -> None:
        """After an optimizer step: move the EMA weights (no host sync)."""
        if self.ema is not None:
            self.ema.update(model)

    # -- validation, stopping, checkpoints -------------------------------------------------------
    def eval_model(self, model: nn.Module) -> nn.Module:
        """The weights validation (and best.pt) use: the EMA copy when EMA is on."""
        return self.ema.module if self.ema is not None else model

    @property
    def evaluated_weights(self) -> str:
        """ "ema" or "live": which weights the epoch metrics and best.pt are from."""
        return "ema" if self.ema is not None else "live"

    def early_stop(
        self, history: list[dict[str, float]], metric: str, mode: str, epochs: int
    ) -> str | None:
        """Early stopping after the last epoch of `history` (of `epochs`): the log line saying
        why, or None. The verdict and the line are kept for the summary."""
        self.stopped = early_stop(history, metric, mode, self.current.value.early_stop)
        if self.stopped is None:
            return None
        self._stop_message = self.stopped.message(len(history), epochs)
        return self._stop_message

    def state_dict(self) -> dict[str, Any]:
        """What last.pt adds: the EMA weights and their update count."""
        return {"ema": self.ema.state_dict()} if self.ema is not None else {}

    def load_state_dict(self, state: dict[str, Any]) -> str | None:
        """Restore from a checkpoint; a note when EMA is on but the checkpoint has none."""
        if self.ema is None:
            return None
        saved = state.get("ema")
        if not saved:
            return "ema: the checkpoint has no EMA weights; the average starts from its weights"
        self.ema.load_state_dict(saved)
        return None

    def checkpoint(
        self, state: dict[str, Any], model: nn.Module, *, best: bool = False
    ) -> dict[str, Any]:
        """A checkpoint's contents; for best.pt under EMA, "model" holds the evaluated (EMA)
        weights and "live_model" the trained ones (a resume continues from those)."""
        if self.ema is None or not best:
            return state
        return {
            **state,
            "model": self.ema.module.state_dict(),
            "live_model": model.state_dict(),
            "weights": "ema",
        }

    def summary(self) -> dict[str, Any]:
        """What summary.json says about the toggles."""
        out: dict[str, Any] = {"evaluated_weights": self.evaluated_weights}
        if self.current.value.compile:
            out["compile"] = self.compile_state
        if self.stopped is not None:
            s = self.stopped
            out["early_stop"] = {
                "metric": s.metric,
                "best": s.best,
                "best_epoch": s.best_epoch,
                "waited": s.waited,
                "message": self._stop_message,
            }
        return out
