"""The trainer's pictures: a collector for each epoch's validation, the sets written after it
(rank 0), and the `SamplesWritten` event that tells the front ends."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from tui_trainer.engine.pictures.collect import TensorCollector
from tui_trainer.engine.pictures.detect import DetectionCollector
from tui_trainer.engine.pictures.sets import build
from tui_trainer.engine.pictures.shots import Collector
from tui_trainer.engine.pictures.write import put_set
from tui_trainer.runlog.events import Event, LogMessage, SamplesWritten
from tui_trainer.runlog.pictures import MISTAKES, SAMPLES, epoch_folder

RESERVE_MIN = 1 << 20
"""Bytes of the run's disk pictures never take (with twice the size of checkpoints/last.pt):
the checkpoints, metrics and summary.json come first."""

if TYPE_CHECKING:
    from tui_trainer.config.sections import PicturesConfig
    from tui_trainer.engine.data.bundle import DataBundle


def make_collector(
    task: str, data: DataBundle, *, samples: int, mistakes: int, size: int
) -> Collector | None:
    """A collector for one pass over `data.val` (None: nothing asked, or a task without
    pictures). Positions count this process's share of the validation data (rank 0's under
    DDP)."""
    if samples <= 0 and mistakes <= 0:
        return None
    total = sum(data.val.batch_sizes())
    if task == "detection":
        return DetectionCollector(samples=samples, mistakes=mistakes, total=total, size=size)
    if task not in ("classification", "segmentation"):
        return None
    spec = data.input_spec
    return TensorCollector(
        task,
        samples=samples,
        mistakes=mistakes,
        total=total,
        size=size,
        num_classes=data.num_classes,
        mean=spec.mean if spec is not None else (0.0,),
        std=spec.std if spec is not None else (1.0,),
    )


class PictureRecorder:
    """Writes each epoch's samples and mistakes into `run_dir` and announces them."""

    def __init__(
        self,
        run_dir: Path,
        config: PicturesConfig,
        task: str,
        data: DataBundle,
        emit: Callable[[Event], None],
        stride: int = 1,
    ) -> None:
        """`stride`: the process count when each validates a share (rank 0 sees the images
        0, W, 2W, ... of the data: names are looked up there)."""
        self.run_dir, self.config, self.task, self.data = run_dir, config, task, data
        self.emit = emit
        val_name = data.val_name
        self.name: Callable[[int], str] | None = (
            None if val_name is None else (lambda position: val_name(position * stride))
        )
        self.noted = False  # "no pictures for this model" said once
        self.warned = False  # a failed write warned once

    def collector(self) -> Collector | None:
        """A collector for the coming epoch-end validation (None: pictures off)."""
        c = self.config
        made = make_collector(
            self.task, self.data, samples=c.samples, mistakes=c.mistakes, size=c.size
        )
        if made is None and (c.samples or c.mistakes):
            self._note(f"task {self.task} has no picture drawing")
        return made

    def record(self, epoch: int, collector: Collector) -> None:
        """The pass's sets in place (`samples/epoch-NNNN`, `samples/mistakes`), then the
        event; a failed write warns once and the run goes on."""
        captured = collector.finish()
        if captured.skipped:
            self._note(captured.skipped)
            return
        names = self.data.class_names
        size = self.config.size
        folder, mistakes = "", None
        try:
            self._check_room()
            if self.config.samples > 0:
                folder = epoch_folder(epoch)
                pset, tiles = build(captured, "samples", epoch=epoch, class_names=names,
                                    size=size, name=self.name)  # fmt: skip
                put_set(self.run_dir / folder, pset, tiles)
            if self.config.mistakes > 0:
                mistakes = f"{SAMPLES}/{MISTAKES}"
                pset, tiles = build(captured, "mistakes", epoch=epoch, class_names=names,
                                    size=size, name=self.name)  # fmt: skip
                put_set(self.run_dir / mistakes, pset, tiles)
        except OSError as exc:
            if not self.warned:
                self.warned = True
                self.emit(
                    LogMessage(
                        "warning",
                        f"pictures: could not write {self.run_dir / SAMPLES} ({exc}); "
                        "training goes on",
                    )
                )
            return
        self.emit(SamplesWritten(epoch, folder, mistakes))

    def _check_room(self) -> None:
        """OSError when writing pictures would eat into the room the run's results need."""
        last = self.run_dir / "checkpoints" / "last.pt"
        try:
            keep = max(RESERVE_MIN, 2 * last.stat().st_size)
        except OSError:
            keep = RESERVE_MIN
        free = shutil.disk_usage(self.run_dir).free
        if free < keep:
            raise OSError(
                f"no space left for pictures: {free >> 10:,} KiB free, "
                f"{keep >> 10:,} KiB kept for checkpoints and results"
            )

    def _note(self, why: str) -> None:
        if not self.noted:
            self.noted = True
            self.emit(LogMessage("info", f"pictures: none for this model ({why})"))
