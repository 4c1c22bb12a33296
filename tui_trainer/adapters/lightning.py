"""A Lightning `Callback` that gives `Trainer.fit` the console (extra `[lightning]`).

```python
from tui_trainer.adapters.lightning import TuiTrainerCallback
trainer = lightning.Trainer(max_epochs=10, callbacks=[TuiTrainerCallback(name="baseline")])
trainer.fit(model, datamodule)   # `tui-trainer watch/ctl` pause, checkpoint, steer, stop it
```

At fit start it calls `tui_trainer.init` with the module's hyperparameters as the config and
tracks the trainer's optimizers (`ctl lr=...` applies at the next step). Each training batch
passes the run's step gate (`Run.iterate`) in `on_train_batch_start`: progress and ETA, a pause
blocks there, checkpoint-now calls `trainer.save_checkpoint(path)`, a stop sets
`trainer.should_stop`. The step's loss is logged as a tensor (no host sync per step); each
epoch's `callback_metrics` (the `val_*` ones included, validation runs before the training
epoch ends) become one epoch line. An exception ends the run as failed with its traceback.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

from tui_trainer.adapters import require
from tui_trainer.adapters._common import StepGate, scalar_metrics
from tui_trainer.engine.reporting import ValidationReporter

_pl = require("lightning.pytorch", "lightning")


_Base: Any = _pl.Callback


class TuiTrainerCallback(_Base):
    """Map `lightning.pytorch.Trainer.fit` onto `tui_trainer.init` (see the module docstring)."""

    def __init__(
        self,
        name: str | None = None,
        out: str | Path = "runs",
        config: dict[str, Any] | None = None,
        resume: str | Path | None = None,
    ) -> None:
        super().__init__()
        self.name, self.out, self.config, self.resume = name, out, config, resume
        self.run: Any = None
        self._validation: ValidationReporter | None = None  # the pass in progress
        self._validated = 0  # its batches done (over all its loaders)
        self._gate: StepGate | None = None
        self._epochs: Any = None

    # -- fit ---------------------------------------------------------------------------
    def on_fit_start(self, trainer: Any, pl_module: Any) -> None:
        """Start the run: hyperparameters as config, optimizers tracked, checkpoints wired."""
        import tui_trainer

        if not trainer.is_global_zero:
            return
        config = self.config if self.config is not None else dict(pl_module.hparams)
        name = self.name or type(pl_module).__name__
        self.run = tui_trainer.init(name=name, config=config, out=self.out, resume=self.resume)
        for optimizer in trainer.optimizers:
            self.run.track_optimizer(optimizer)
        self.run.on_checkpoint(lambda path: trainer.save_checkpoint(str(path)))
        self._gate = StepGate(self.run)
        epochs = trainer.max_epochs if trainer.max_epochs and trainer.max_epochs > 0 else 2**31
        self._epochs = iter(self.run.epochs(epochs))

    def on_train_epoch_start(self, trainer: Any, pl_module: Any) -> None:
        """Advance the run's epoch count; stop the trainer when the run has been stopped."""
        if self.run is None or self._gate is None:
            return
        try:
            next(self._epochs)
        except StopIteration:
            trainer.should_stop = True
            return
        batches = trainer.num_training_batches
        self._gate.start_epoch(batches if isinstance(batches, int) else 0)

    def on_train_batch_start(
        self, trainer: Any, pl_module: Any, batch: Any, batch_idx: int
    ) -> None:
        """The step boundary: pause blocks here; a stop sets `trainer.should_stop`."""
        if self._gate is not None and not self._gate.step():
            trainer.should_stop = True

    def on_train_batch_end(
        self, trainer: Any, pl_module: Any, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        """Log the step's loss as a (detached) tensor: read only when an event is due."""
        if self.run is None:
            return
        loss = outputs.get("loss") if isinstance(outputs, dict) else outputs
        if loss is not None and hasattr(loss, "detach"):
            self.run.log(loss=loss.detach())

    def on_validation_epoch_start(self, trainer: Any, pl_module: Any) -> None:
        """A validation pass begins (not the sanity check before training): report its batches."""
        self._validation = None
        if self.run is None or trainer.sanity_checking:
            return
        counts = trainer.num_val_batches
        total = sum(c for c in counts if isinstance(c, int)) if isinstance(counts, list) else 0
        self._validation = self.run.validation(total)
        self._validated = 0

    def on_validation_batch_end(
        self, trainer: Any, pl_module: Any, outputs: Any, batch: Any, batch_idx: int,
        dataloader_idx: int = 0,
    ) -> None:  # fmt: skip
        """One validation batch done: the console's `val b/B` moves (throttled)."""
        if self._validation is not None:
            self._validated += 1
            self._validation(self._validated)

    def on_validation_epoch_end(self, trainer: Any, pl_module: Any) -> None:
        """The pass's batches are done (its last progress says so)."""
        if self._validation is not None:
            self._validation.done(self._validated)
            self._validation = None

    def on_train_epoch_end(self, trainer: Any, pl_module: Any) -> None:
        """One epoch line from `callback_metrics` (validation has already run this epoch)."""
        if self.run is None or self._gate is None:
            return
        self._gate.end_epoch()
        metrics = scalar_metrics(trainer.callback_metrics)
        self.run.log_epoch(**metrics)

    def on_fit_end(self, trainer: Any, pl_module: Any) -> None:
        """Finish the run (`stopped` when it was stopped, else completed)."""
        self._close(None)

    def on_exception(self, trainer: Any, pl_module: Any, exception: BaseException) -> None:
        """End the run as the API's `with` block would: failed, with the traceback."""
        self._close(exception)

    def _close(self, exception: BaseException | None) -> None:
        run, self.run = self.run, None
        if run is None:
            return
        if self._gate is not None:
            with contextlib.suppress(Exception):
                self._gate.end_epoch()
        if exception is None:
            run.finish()
        else:
            run.__exit__(type(exception), exception, exception.__traceback__)
