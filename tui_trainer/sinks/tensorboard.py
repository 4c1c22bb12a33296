"""TensorBoard event files for a run (`log.tensorboard: true`; the optional extra).

Written straight into the run directory, so `tensorboard --logdir runs` lists every run by its
`<preset>/<timestamp>` path. Tags: `train/loss` and `train/lr` per progress event (x: optimizer
steps), a detector's `train/loss_<part>` beside them, `epoch/<metric>` per epoch (x: epoch),
and the pictures' grids as images `samples` and `mistakes` (x: epoch).
metrics.jsonl and metrics.csv stay the source of truth; this is a view for the tools that read
TensorBoard's format.
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

from tui_trainer.errors import UserError
from tui_trainer.runlog.events import EpochEnd, Event, RunFinished, SamplesWritten, StepProgress
from tui_trainer.runlog.pictures import GRID

EXTRA = 'pip install "tui-trainer[tensorboard]"'


def require_tensorboard() -> None:
    """Raise `UserError` (one line) when the TensorBoard writer cannot be imported."""
    try:
        from tensorboard.summary.writer.event_file_writer import EventFileWriter  # noqa: F401
    except ImportError:
        raise UserError(
            f"log.tensorboard: true needs the tensorboard package, which is not installed "
            f"({EXTRA}, or set log.tensorboard=false)"
        ) from None


class TensorBoardSink:
    """Subscribes to engine events and writes them as TensorBoard scalars."""

    def __init__(self, run_dir: Path) -> None:
        from tensorboard.compat.proto import event_pb2, summary_pb2
        from tensorboard.summary.writer.event_file_writer import EventFileWriter

        self._pb: Any = (event_pb2, summary_pb2)
        self._file: Any = EventFileWriter(str(run_dir))
        self.run_dir = run_dir

    def add_scalar(self, tag: str, value: float, step: int) -> None:
        """One scalar, as TensorBoard's own writer stores it."""
        event_pb2, summary_pb2 = self._pb
        summary = summary_pb2.Summary(
            value=[summary_pb2.Summary.Value(tag=tag, simple_value=value)]
        )
        self._file.add_event(event_pb2.Event(wall_time=time.time(), step=step, summary=summary))

    def add_png(self, tag: str, path: Path, step: int) -> None:
        """A PNG file as an image summary (skipped when it cannot be read)."""
        from PIL import Image

        try:
            data = path.read_bytes()
            with Image.open(path) as img:
                width, height = img.size
        except OSError:
            return
        event_pb2, summary_pb2 = self._pb
        image = summary_pb2.Summary.Image(
            height=height, width=width, colorspace=3, encoded_image_string=data
        )
        summary = summary_pb2.Summary(value=[summary_pb2.Summary.Value(tag=tag, image=image)])
        self._file.add_event(event_pb2.Event(wall_time=time.time(), step=step, summary=summary))

    def flush(self) -> None:
        """Write buffered events to disk."""
        self._file.flush()

    def close(self) -> None:
        """Flush and close the event file."""
        self._file.close()

    def __call__(self, event: Event) -> None:
        """Record one event (scalars, and the pictures' grids; other events are ignored)."""
        w = self
        if isinstance(event, StepProgress):
            if math.isfinite(event.loss):
                w.add_scalar("train/loss", event.loss, event.global_step)
                w.add_scalar("train/lr", event.lr, event.global_step)
            for part, value in (event.loss_parts or {}).items():  # a detector's loss parts
                if math.isfinite(value):
                    w.add_scalar(f"train/loss_{part}", value, event.global_step)
        elif isinstance(event, EpochEnd):
            for name, value in event.metrics.items():
                if name != "epoch" and isinstance(value, (int, float)) and math.isfinite(value):
                    w.add_scalar(f"epoch/{name}", value, event.epoch)
            w.flush()
        elif isinstance(event, SamplesWritten):
            if event.folder:
                w.add_png("samples", self.run_dir / event.folder / GRID, event.epoch)
            if event.mistakes:
                w.add_png("mistakes", self.run_dir / event.mistakes / GRID, event.epoch)
        elif isinstance(event, RunFinished):
            w.close()
