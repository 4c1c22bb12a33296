"""Build the train/validation data for a run config: the builder of `data.name` comes from the
task that owns it (`engine.tasks.data_builder`), so a new data source is a row in its task's
`data.DATASETS`, not a branch here."""

from __future__ import annotations

import torch

from tui_trainer.config.schema import RunConfig
from tui_trainer.engine.data.bundle import DataBundle


def build_data(
    config: RunConfig, device: torch.device, model_channels: int | None = None
) -> DataBundle:
    """The data bundle for `config.data`; raises UserError for a missing root or empty data.

    `model_channels` asks for that many input channels (grayscale is repeated for RGB models).
    """
    from tui_trainer.config.datasets import is_user_data

    if is_user_data(config.data.name):  # the user's own Dataset class serves the config's task
        from tui_trainer.engine.data.user_data import user_bundle

        return user_bundle(config, device, model_channels)
    from tui_trainer.engine.tasks import data_builder

    return data_builder(config.data.name)(config, device, model_channels)
