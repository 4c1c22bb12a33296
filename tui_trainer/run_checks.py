"""Checks and notes a run's config gets once its data, model and process count are known."""

from __future__ import annotations

from tui_trainer.config import RunConfig
from tui_trainer.config.tasks import effective_batch
from tui_trainer.engine.distributed import DistContext
from tui_trainer.errors import UserError


def check_batch_sizes(config: RunConfig, batchnorm: bool, train_samples: int) -> None:
    """Batch sizes the model and data allow (BatchNorm needs 2; no more than the samples)."""
    sizes = {"data.batch_size": config.data.batch_size}
    if config.freeze.enabled and config.freeze.batch_size:
        sizes["freeze.batch_size"] = config.freeze.batch_size
    for key, size in sizes.items():
        if batchnorm and size < 2:
            raise UserError(
                f"{key}: must be at least 2 for {config.model.name}: its BatchNorm layers "
                "cannot train on batches of one sample"
            )
        if size > train_samples:
            raise UserError(
                f"{key}: {size} is larger than the {train_samples} training samples of "
                f"{config.data.name}"
            )


def distributed_notes(config: RunConfig, dist: DistContext) -> tuple[RunConfig, list[str]]:
    """Record the process count and effective batch in the config's notes (and config.yaml)."""
    bs, acc, world = config.data.batch_size, config.accumulate, dist.world_size
    notes = [
        f"{world} processes: data.batch_size {bs} per process × {world} × accumulate {acc} "
        f"= effective batch {effective_batch(bs, acc, world)}"
    ]
    if config.oom == "reduce":
        notes.append(
            f"oom=reduce works in single-process runs only: with {world} processes an "
            "out-of-memory error stops the run"
        )
    update = {"notes": [*config.notes, *notes]}
    return config.model_copy(update=update, deep=True), notes
