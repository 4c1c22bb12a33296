"""What image folders and mask folders share: workers, caches, loaders kept across epochs."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import torch

from tui_trainer.config.schema import RunConfig
from tui_trainer.engine.data.cache import (
    DiskCache,
    RamCache,
    available_cores,
    available_memory,
    default_cache_dir,
    ram_bytes,
)
from tui_trainer.engine.data.decode import Geometry
from tui_trainer.engine.data.folder_loader import Augment, BadImageLog, FolderBatches
from tui_trainer.engine.data.folder_source import FolderSource, MaskRule
from tui_trainer.engine.data.tensor_loader import BatchTransform

MAX_AUTO_WORKERS = 8


def resolve_workers(setting: int | str, env: dict[str, str] | None = None) -> int:
    """`data.num_workers`: a number as given; auto = this process's share of its cores, <= 8.

    Processes of one multi-process run on a machine (torchrun's LOCAL_WORLD_SIZE) share the
    cores; with a single core to spare, decoding in the main process is faster than a worker.
    """
    if setting != "auto":
        return int(setting)
    env = dict(os.environ if env is None else env)
    local = max(1, int(env.get("LOCAL_WORLD_SIZE", "1") or 1))
    share = available_cores() // local
    return min(MAX_AUTO_WORKERS, share) if share >= 2 else 0


def share_cores(workers: int) -> None:
    """Leave the decoding workers their cores: the main process computes on the rest.

    More compute threads than free cores make OpenMP's threads spin against the workers
    (measured: batches 10-200x slower on a busy 2-core machine). The count is fixed for the
    whole run, not raised again once the RAM cache serves the batches: the same thread count
    gives the same float sums, which keeps a resumed run identical to an uninterrupted one.
    """
    if workers > 0:
        torch.set_num_threads(max(1, min(torch.get_num_threads(), available_cores() - workers)))


def pin_memory(config: RunConfig, device: torch.device) -> bool:
    """Pinned host memory for non-blocking copies: on for CUDA unless data.pin_memory says no."""
    if config.data.pin_memory is not None:
        return bool(config.data.pin_memory) and torch.cuda.is_available()
    return device.type == "cuda"


class FolderData:
    """The caches and settings of one folder dataset's run, and its loaders by batch size."""

    def __init__(self, config: RunConfig, device: torch.device) -> None:
        self.config = config
        self.device = device
        self.workers = resolve_workers(config.data.num_workers)
        share_cores(self.workers)
        self.pin = pin_memory(config, device)
        self.bad = BadImageLog(config.data.on_bad_image)
        self.notes: list[str] = []
        self.cache_mode = config.data.cache
        self._need = 0
        self.built: list[FolderBatches] = []  # every loader made, for `close`

    def source(
        self,
        images: list[Path],
        geometry: Geometry,
        *,
        masks: list[Path] | None = None,
        rule: MaskRule | None = None,
    ) -> FolderSource:
        """A FolderSource with this run's disk cache (when data.cache=disk)."""
        disk = None
        channels = 3 if masks is None else 4
        if self.cache_mode == "disk":
            folder = Path(self.config.data.cache_dir or default_cache_dir()).expanduser()
            disk = DiskCache(folder, (channels, geometry.size, geometry.size))
        src = FolderSource(images, geometry, masks=masks, rule=rule, disk=disk)
        self._need += ram_bytes(len(images), src.shape)
        return src

    def ram_caches(self, *sources: FolderSource) -> list[RamCache | None]:
        """A RamCache per source (data.cache ram or disk) when they fit in half the free memory.

        With data.cache=disk the RAM cache still serves later epochs; the disk cache serves
        later runs (its samples are loaded straight into RAM, without workers).
        """
        if self.cache_mode == "none":
            return [None] * len(sources)
        free = available_memory()
        if self._need > free // 2:
            tail = "" if self.cache_mode == "disk" else " (data.cache=disk would speed that up)"
            self.notes.append(
                f"data.cache: keeping the images in memory would need "
                f"{self._need / 2**30:.1f} GiB, more than half the {free / 2**30:.1f} GiB free; "
                f"images are read every epoch{tail}"
            )
            return [None] * len(sources)
        return [RamCache(len(s), s.shape) for s in sources]

    def close(self) -> None:
        """Stop every loader's worker processes now (the run is over), not at garbage
        collection: an epoch left by an error would otherwise hold them until then."""
        for loader in self.built:
            loader.release()

    def loaders(
        self,
        train: tuple[FolderSource, list[int], RamCache | None],
        val: tuple[FolderSource, list[int], RamCache | None],
        labels: tuple[list[int] | None, list[int] | None],
        transform: BatchTransform,
        augment: Augment,
    ) -> tuple[Callable[[int], FolderBatches], FolderBatches]:
        """`make_train` (one loader per batch size, kept: its workers persist) and `val`."""
        cfg = self.config
        made: dict[int, FolderBatches] = {}

        def build(part, labels_, batch_size: int, shuffle: bool, aug: Augment) -> FolderBatches:
            source, indices, ram = part
            loader = FolderBatches(
                source,
                indices,
                labels_,
                batch_size,
                shuffle=shuffle,
                seed=cfg.seed,
                transform=transform,
                augment=aug,
                device=self.device,
                num_workers=self.workers,
                pin_memory=self.pin,
                ram=ram,
                bad=self.bad,
            )
            self.built.append(loader)
            return loader

        def make_train(batch_size: int) -> FolderBatches:
            if batch_size not in made:
                for other in made.values():  # a new phase or oom=reduce: one set of workers
                    other.release()
                made[batch_size] = build(train, labels[0], batch_size, True, augment)
            return made[batch_size]

        val_batch = cfg.data.val_batch_size or 2 * cfg.data.batch_size
        return make_train, build(val, labels[1], val_batch, False, Augment())
