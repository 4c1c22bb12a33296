"""Build the train/validation data for a run config: pick the source by `data.name`."""

from __future__ import annotations

import torch

from tui_trainer.config.schema import RunConfig
from tui_trainer.engine.data.bundle import DataBundle, tensor_bundle


def build_data(
    config: RunConfig, device: torch.device, model_channels: int | None = None
) -> DataBundle:
    """The data bundle for `config.data`; raises UserError for a missing root or empty data.

    `model_channels` asks for that many input channels (grayscale is repeated for RGB models).
    """
    name = config.data.name
    if name == "imagefolder":
        from tui_trainer.engine.data.imagefolder import folder_bundle

        return folder_bundle(config, device, model_channels)
    if name == "segfolder":
        from tui_trainer.engine.data.segfolder import segfolder_bundle

        return segfolder_bundle(config, device)
    if name == "shapes":
        from tui_trainer.engine.data.seg_loader import seg_tensor_bundle
        from tui_trainer.engine.data.shapes import make_shapes_split

        bundle = seg_tensor_bundle(make_shapes_split(config), config, device)
        return _with_split(bundle, config)
    if name == "digits":
        from tui_trainer.engine.data.digits import load_digits_split

        split = load_digits_split(config)
    elif name == "fake":
        from tui_trainer.engine.data.fake import make_fake_split

        split = make_fake_split(config)
    elif name == "cifar10":
        from tui_trainer.engine.data.cifar10 import load_cifar10_split

        split = load_cifar10_split(config)
    else:  # pragma: no cover - the schema's Literal keeps this unreachable
        raise ValueError(name)
    return _with_split(tensor_bundle(split, config, device, model_channels), config)


def _with_split(bundle: DataBundle, config: RunConfig) -> DataBundle:
    """In-memory data: its `split` line (digits stratified, generated data's first ones held out,
    CIFAR-10 its own test set), by `split_plan.tensor_split_source`, as `check` says it."""
    from tui_trainer.engine.data.split import split_line
    from tui_trainer.engine.data.split_plan import tensor_split_source

    total = bundle.train_samples + bundle.val_samples
    source, what = tensor_split_source(config, total)
    bundle.split = split_line(bundle.train_samples, bundle.val_samples, what, source)
    return bundle
