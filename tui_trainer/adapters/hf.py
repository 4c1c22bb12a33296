"""A Hugging Face `TrainerCallback` that gives `Trainer.train` the console (extra `[hf]`).

```python
from tui_trainer.adapters.hf import TuiTrainerCallback
trainer = transformers.Trainer(..., callbacks=[TuiTrainerCallback(name="bert-base")])
trainer.train()   # `tui-trainer watch/ctl` pause, checkpoint, steer, stop it
```

At train begin it calls `tui_trainer.init` with the `TrainingArguments` as the config and tracks
the optimizer. Each optimizer step passes the run's step gate (`Run.iterate`) in `on_step_begin`:
progress and ETA, a pause blocks there, a stop sets `control.should_training_stop`.
Checkpoint-now writes the model's and optimizer's `state_dict` to the run's checkpoint path and
asks the trainer for its own checkpoint too (`control.should_save`, into `output_dir`).
`on_log`'s loss (already read by the trainer) is logged; each evaluation's batches move the
console's `val b/B` bar (`on_prediction_step`) and its `eval_*` metrics become one epoch line
as `val_*`.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

from tui_trainer.adapters import require
from tui_trainer.adapters._common import StepGate, scalar_metrics
from tui_trainer.api.validation import loader_length
from tui_trainer.engine.reporting import ValidationReporter

_transformers = require("transformers", "hf")


_Base: Any = _transformers.TrainerCallback


class TuiTrainerCallback(_Base):
    """Map `transformers.Trainer.train` onto `tui_trainer.init` (see the module docstring)."""

    def __init__(
        self,
        name: str | None = None,
        out: str | Path = "runs",
        config: dict[str, Any] | None = None,
        resume: str | Path | None = None,
    ) -> None:
        self.name, self.out, self.config, self.resume = name, out, config, resume
        self.run: Any = None
        self._gate: StepGate | None = None
        self._epochs: Any = None
        self._save_asked = False
        self._model: Any = None
        self._optimizer: Any = None
        self._validation: ValidationReporter | None = None  # the evaluation pass in progress
        self._validated = 0  # its batches done

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> Any:
        """Start the run: the training arguments as config, the optimizer tracked."""
        import tui_trainer

        if not state.is_world_process_zero:
            return control
        config = self.config if self.config is not None else args.to_dict()
        self.run = tui_trainer.init(
            name=self.name or Path(args.output_dir or "hf").name,
            config=config,
            out=self.out,
            resume=self.resume,
        )
        self._model, self._optimizer = kwargs.get("model"), kwargs.get("optimizer")
        if self._optimizer is not None:
            self.run.track_optimizer(self._optimizer)
        self.run.on_checkpoint(self._save)
        self._gate = StepGate(self.run)
        self._epochs = iter(self.run.epochs(max(1, int(-(-float(args.num_train_epochs) // 1)))))
        return control

    def _save(self, path: Path) -> None:
        import torch

        state: dict[str, Any] = {}
        if self._model is not None:
            state["model"] = self._model.state_dict()
        if self._optimizer is not None:
            state["optimizer"] = self._optimizer.state_dict()
        torch.save(state, path)
        self._save_asked = True

    def on_epoch_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> Any:
        """Advance the run's epoch count; a stopped run stops the trainer."""
        if self.run is None or self._gate is None:
            return control
        try:
            next(self._epochs)
        except StopIteration:
            control.should_training_stop = True
            return control
        per_epoch = state.max_steps // max(1, int(-(-float(args.num_train_epochs) // 1)))
        self._gate.start_epoch(per_epoch)
        return control

    def on_step_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> Any:
        """The step boundary: pause blocks here; a stop sets `control.should_training_stop`."""
        if self._gate is not None and not self._gate.step():
            control.should_training_stop = True
        if self._save_asked:
            self._save_asked = False
            control.should_save = True
        return control

    def on_log(self, args: Any, state: Any, control: Any, logs: Any = None, **kwargs: Any) -> Any:
        """The trainer's logged loss (already a number: the trainer synced it)."""
        if self.run is not None and logs and "loss" in logs:
            self.run.log(loss=float(logs["loss"]))
        return control

    def on_epoch_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> Any:
        """Close the epoch's step gate."""
        if self._gate is not None:
            self._gate.end_epoch()
        return control

    def on_prediction_step(self, args: Any, state: Any, control: Any, **kwargs: Any) -> Any:
        """One evaluation batch done: the console's `val b/B` moves (throttled)."""
        if self.run is None:
            return control
        if self._validation is None:  # a new evaluation pass
            loader = kwargs.get("eval_dataloader")
            self._validation = self.run.validation(0 if loader is None else loader_length(loader))
            self._validated = 0
        self._validated += 1
        self._validation(self._validated)
        return control

    def on_evaluate(
        self, args: Any, state: Any, control: Any, metrics: Any = None, **kwargs: Any
    ) -> Any:
        """The evaluation pass ends (its last progress says so); one epoch line: `eval_*`
        metrics as `val_*`."""
        if self._validation is not None:
            self._validation.done(self._validated)
            self._validation = None
        if self.run is not None and metrics:
            values = scalar_metrics(metrics)
            named = {("val_" + k[5:] if k.startswith("eval_") else k): v for k, v in values.items()}
            self.run.log_epoch(**named)
        return control

    def on_train_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> Any:
        """Finish the run (`stopped` when it was stopped)."""
        run, self.run = self.run, None
        if run is not None:
            if self._gate is not None:
                with contextlib.suppress(Exception):
                    self._gate.end_epoch()
            run.finish()
        return control
