"""Picture sets for the console's tests: fixed PNGs drawn with PIL, written with the contract's
`to_json` into a run directory's samples/ and eval/ folders (deterministic: no randomness)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw
from textual.pilot import Pilot

from support.pilot import wait_for
from tui_trainer.runlog.events import EpochEnd, SamplesWritten, Sink
from tui_trainer.runlog.pictures import (
    INDEX,
    MISTAKES,
    SAMPLES,
    Picture,
    PictureSet,
    epoch_folder,
    to_json,
)

CLASSES = ["cat", "dog", "bird"]
COLOURS = [(220, 120, 40), (60, 140, 220), (90, 200, 90)]


def class_image(class_id: int, position: int, size: int = 32) -> Image.Image:
    """A square of the class's colour with a shape that depends on the position."""
    image = Image.new("RGB", (size, size), (20, 20, 30))
    draw = ImageDraw.Draw(image)
    inset = 3 + position % 5
    box = (inset, inset, size - 1 - inset, size - 1 - inset)
    if class_id == 0:
        draw.ellipse(box, fill=COLOURS[0])
    elif class_id == 1:
        draw.rectangle(box, fill=COLOURS[1])
    else:
        draw.polygon(
            [(size // 2, inset), (inset, size - inset), (size - inset, size - inset)],
            fill=COLOURS[2],
        )
    return image


def mask_tile(position: int, size: int = 32) -> Image.Image:
    """image | true mask | predicted mask side by side (the contract's segmentation tile)."""
    tile = Image.new("RGB", (size * 3, size), (0, 0, 0))
    tile.paste(class_image(position % 3, position, size), (0, 0))
    draw = ImageDraw.Draw(tile)
    r = 6 + position % 6
    draw.ellipse((size + 16 - r, 16 - r, size + 16 + r, 16 + r), fill=(240, 240, 240))
    s = r + (position % 3) * 2
    draw.ellipse((2 * size + 16 - s, 16 - s, 2 * size + 16 + s, 16 + s), fill=(240, 90, 90))
    return tile


def classification_pictures(count: int, epoch: int) -> list[Picture]:
    """`count` samples: true class by position, wrong on every third (depending on the epoch)."""
    pictures = []
    for i in range(count):
        true = i % 3
        pred = (true + 1) % 3 if (i + epoch) % 3 == 0 else true
        pictures.append(
            Picture(
                file=f"{i:03d}.png",
                position=i * 7,
                name=f"val/{CLASSES[true]}/img_{i * 7:04d}.png",
                correct=pred == true,
                true=CLASSES[true],
                pred=CLASSES[pred],
                true_id=true,
                pred_id=pred,
                confidence=round(0.55 + 0.4 * ((i * 37 + epoch) % 10) / 10, 2),
            )
        )
    return pictures


def write_set(folder: Path, pictures: PictureSet) -> Path:
    """Write the set's tiles (drawn from each picture) and index.json into `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    for p in pictures.pictures:
        if pictures.task == "segmentation":
            image = mask_tile(p.position)
        else:
            image = class_image(p.true_id or 0, p.position)
        image.save(folder / p.file)
    (folder / INDEX).write_text(to_json(pictures), encoding="utf-8")
    return folder


CONFUSION = [[30, 4, 1], [2, 28, 6], [0, 3, 33]]


def write_classification_run(run_dir: Path, epochs: int = 3, count: int = 12) -> Path:
    """samples/epoch-000N for N in 1..epochs and samples/mistakes, a classification run."""
    for epoch in range(1, epochs + 1):
        pictures = PictureSet(
            kind="samples",
            task="classification",
            epoch=epoch,
            rule=f"the first {count} validation images",
            class_names=list(CLASSES),
            pictures=classification_pictures(count, epoch),
        )
        write_set(run_dir / epoch_folder(epoch), pictures)
    write_mistakes(run_dir / SAMPLES / MISTAKES, epochs)
    return run_dir


def write_mistakes(folder: Path, epoch: int | None) -> Path:
    """The most confident mistakes of a classification pass with its confusion matrix."""
    wrong = [(0, 1), (1, 2), (1, 2), (2, 1), (0, 2), (1, 0)]
    pictures = [
        Picture(
            file=f"{i:03d}.png",
            position=100 + i,
            name=f"val/{CLASSES[t]}/img_{100 + i:04d}.png",
            correct=False,
            true=CLASSES[t],
            pred=CLASSES[p],
            true_id=t,
            pred_id=p,
            confidence=round(0.98 - 0.07 * i, 2),
        )
        for i, (t, p) in enumerate(wrong)
    ]
    return write_set(
        folder,
        PictureSet(
            kind="mistakes",
            task="classification",
            epoch=epoch,
            rule="the 6 most confident mistakes",
            class_names=list(CLASSES),
            pictures=pictures,
            confusion=[list(row) for row in CONFUSION],
        ),
    )


def write_segmentation_run(run_dir: Path, epochs: int = 2, count: int = 8) -> Path:
    """samples/epoch-000N of a segmentation run (image | true | predicted tiles)."""
    for epoch in range(1, epochs + 1):
        pictures = [
            Picture(
                file=f"{i:03d}.png",
                position=i,
                name=f"images/shape_{i:03d}.png",
                correct=(i + epoch) % 4 != 0,
                score=round(0.45 + 0.5 * ((i * 3 + epoch) % 7) / 7, 2),
            )
            for i in range(count)
        ]
        write_set(
            run_dir / epoch_folder(epoch),
            PictureSet("samples", "segmentation", epoch, "the first 8", ["bg", "shape"], pictures),
        )
    return run_dir


@dataclass
class SamplesAfterEpochs:
    """Wraps an executor (the scripted one): after each epoch's EpochEnd it sends the
    `SamplesWritten` a run writing pictures sends (the sets are written beforehand)."""

    inner: Any
    events: list[Any] = field(default_factory=list)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def __call__(self, config: Any, preset: str, *, sinks: list[Sink], **kwargs: Any) -> Any:
        """Run the inner executor with a sink that adds SamplesWritten after EpochEnd."""

        def after(event: Any) -> None:
            for sink in sinks:
                sink(event)
            if isinstance(event, EpochEnd):
                written = SamplesWritten(event.epoch, epoch_folder(event.epoch), "samples/mistakes")
                self.events.append(written)
                for sink in sinks:
                    sink(written)

        return self.inner(config, preset, sinks=[after], **kwargs)


async def settled(pilot: Pilot, lay_out: Callable[[], None]) -> None:
    """Tiles on screen, laid out for the final size (a grid made at a passing size during
    start-up is replaced on the next resize: do it now, then let it paint)."""
    from tui_trainer.tui.widgets.picture_tile import PictureTile

    await wait_for(pilot, lambda: bool(pilot.app.screen.query(PictureTile)))
    await pilot.pause()
    lay_out()
    await pilot.pause()
    await wait_for(pilot, lambda: bool(pilot.app.screen.query(PictureTile)))
    await pilot.pause()
