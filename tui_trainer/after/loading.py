"""Open a run directory: its config.yaml, a checkpoint, the data and the model with its weights.

Data, model and trainer come from `session.prepare`, the same call a training run makes, with
the run's resolved config (plus any overrides): transforms, model shape and class names are the
run's, and evaluation is the trainer's own `validate`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from tui_trainer.config.loader import load_config
from tui_trainer.config.schema import RunConfig
from tui_trainer.engine.checkpoint import check_architecture, load_checkpoint
from tui_trainer.engine.data import DataBundle
from tui_trainer.engine.data.inputs import InputSpec
from tui_trainer.engine.loop import Trainer
from tui_trainer.errors import UserError
from tui_trainer.runlog.control import Control
from tui_trainer.session import prepare

CHECKPOINT_KEY = "--checkpoint"


@dataclass
class LoadedRun:
    """A run directory opened for evaluation, prediction or export."""

    run_dir: Path
    config: RunConfig
    overrides: list[str]
    checkpoint: Path
    state: dict[str, Any]  # the checkpoint (weights, progress, class names)
    device: torch.device
    data: DataBundle
    trainer: Trainer  # the run's own trainer: its model holds the checkpoint's weights

    @property
    def model(self) -> nn.Module:
        """The model in eval mode, on `device`, with the checkpoint's weights."""
        return self.trainer.model

    @property
    def class_names(self) -> list[str]:
        """The class names the model was trained on."""
        return list(self.data.class_names)

    @property
    def input_spec(self) -> InputSpec:
        """How an image file becomes model input (as the validation batches are made)."""
        if self.data.input_spec is None:  # pragma: no cover - every builder sets one
            raise UserError(f"data.name: {self.config.data.name} has no file preprocessing")
        return self.data.input_spec

    @property
    def recorded_best(self) -> dict[str, Any]:
        """The monitored metric the checkpoint recorded as the run's best (value may be None)."""
        monitor, _mode = self.config.monitor()
        progress = self.state.get("progress") or {}
        return {
            "metric": monitor,
            "value": progress.get("best_value"),
            "epoch": progress.get("best_epoch"),
        }


def run_directory(path: str | Path) -> Path:
    """`path` as a run directory (it holds config.yaml), or a one-line UserError."""
    run_dir = Path(path)
    if not run_dir.exists():
        raise UserError(f"RUN_DIR: '{run_dir}' not found")
    if not run_dir.is_dir():
        raise UserError(f"RUN_DIR: '{run_dir}' is not a folder (expected a run directory)")
    if not (run_dir / "config.yaml").is_file():
        raise UserError(f"RUN_DIR: '{run_dir}' has no config.yaml (is it a run directory?)")
    return run_dir


def run_task(run_dir: str | Path, overrides: list[str] | None = None) -> str:
    """The run's task (`classification`, `segmentation`, `detection`) from its config.yaml,
    read without preparing data or model (flags of one task are checked before loading)."""
    config, _name = load_config(run_directory(run_dir) / "config.yaml", list(overrides or []))
    return config.task


def checkpoint_path(run_dir: Path, choice: str) -> Path:
    """`best` / `last` inside the run's checkpoints/ folder, or a path to a checkpoint file."""
    if choice in ("best", "last"):
        path = run_dir / "checkpoints" / f"{choice}.pt"
        if not path.is_file():
            other = "last" if choice == "best" else "best"
            hint = (
                f" (try --checkpoint {other})"
                if (run_dir / "checkpoints" / f"{other}.pt").is_file()
                else " (the run saved no checkpoint)"
            )
            raise UserError(f"{CHECKPOINT_KEY}: '{path}' not found{hint}")
        return path
    path = Path(choice)
    if path.is_dir():
        raise UserError(
            f"{CHECKPOINT_KEY}: '{path}' is a folder; expected best, last or a .pt file"
        )
    return path


def open_run(
    run_dir: str | Path, checkpoint: str = "best", overrides: list[str] | None = None
) -> LoadedRun:
    """Load the run's config (+ overrides), the checkpoint, and prepare its data and model
    exactly as a run does (`session.prepare`), with the checkpoint's weights loaded.

    Raises UserError for a missing run directory or checkpoint, a checkpoint of another
    architecture, or data whose class names differ from the run's.
    """
    folder = run_directory(run_dir)
    overrides = list(overrides or [])
    config, _name = load_config(folder / "config.yaml", overrides)
    ckpt = checkpoint_path(folder, checkpoint)
    state = load_checkpoint(ckpt, key=CHECKPOINT_KEY)
    # The checkpoint holds every weight: build the bare architecture (no pretrained download).
    config = config.model_copy(
        update={"model": config.model.model_copy(update={"weights": None})}, deep=True
    )
    prepared = prepare(config, folder.parent.name, control=Control())
    data = prepared.data
    trained = state.get("class_names")
    if trained is not None and list(trained) != list(data.class_names):
        where = f"'{config.data.root}'" if config.data.root else config.data.name
        raise UserError(
            f"the classes of {where} {list(data.class_names)} differ from the run's "
            f"{list(trained)} (checkpoint '{ckpt}')",
            key="data",
        )
    trainer = prepared.trainer
    check_architecture(trainer.model, state, key=CHECKPOINT_KEY)
    trainer.model.load_state_dict(state["model"])
    trainer.model.eval()
    return LoadedRun(
        run_dir=folder,
        config=prepared.config,
        overrides=overrides,
        checkpoint=ckpt,
        state=state,
        device=prepared.device,
        data=data,
        trainer=trainer,
    )
