"""A pass's captured shots as picture sets (`runlog.pictures.PictureSet`) and their tiles."""

from __future__ import annotations

from collections.abc import Callable

from PIL import Image

from tui_trainer.engine.pictures.draw import tile
from tui_trainer.engine.pictures.shots import Captured, Shot
from tui_trainer.runlog.pictures import Kind, Picture, PictureSet

Namer = Callable[[int], str]
"""A validation position → the image's name (its file, or "val #<position>")."""

RULES = {
    ("samples", "classification"): "fixed validation images, evenly spaced over the set",
    ("samples", "segmentation"): "fixed validation images, evenly spaced over the set",
    ("samples", "detection"): "fixed validation images, evenly spaced over the set",
    ("mistakes", "classification"): "the most confident wrong answers, most confident first",
    ("mistakes", "segmentation"): "the lowest-Dice images, lowest first",
    ("mistakes", "detection"): "the lowest-F1 images (IoU 0.5), lowest first",
}


def default_name(position: int) -> str:
    """The name of an image whose data source does not know its file."""
    return f"val #{position}"


def picture(shot: Shot, n: int, name: str, class_names: list[str]) -> Picture:
    """The index entry of the n-th tile."""

    def cls(k: int | None) -> str:
        if k is None:
            return ""
        return class_names[k] if 0 <= k < len(class_names) else f"class_{k}"

    return Picture(
        file=f"{n:02d}.png",
        position=shot.position,
        name=name,
        correct=shot.correct,
        true=cls(shot.true_id),
        pred=cls(shot.pred_id),
        true_id=shot.true_id,
        pred_id=shot.pred_id,
        confidence=shot.confidence,
        score=shot.score,
    )


def caption(p: Picture, task: str) -> list[str]:
    """The lines under a tile in grid.png."""
    if task == "classification":
        conf = f" {p.confidence:.2f}" if p.confidence is not None else ""
        return [p.name, f"{p.true} -> {p.pred}{conf}"]
    what = "Dice" if task == "segmentation" else "F1"
    return [p.name, f"{what} {p.score:.2f}" if p.score is not None else what]


def build(
    captured: Captured,
    kind: Kind,
    *,
    epoch: int | None,
    class_names: list[str],
    size: int,
    name: Namer | None = None,
) -> tuple[PictureSet, list[Image.Image]]:
    """The `kind` set of a pass and its tiles (one per picture, in order)."""
    shots = captured.samples if kind == "samples" else captured.mistakes
    namer = name or default_name
    pictures = [picture(s, n, _safe(namer, s.position), class_names) for n, s in enumerate(shots)]
    tiles = [tile(s, captured.task, size, class_names) for s in shots]
    confusion = captured.confusion if kind == "mistakes" else None
    pset = PictureSet(
        kind=kind,
        task=captured.task,
        epoch=epoch,
        rule=RULES.get((kind, captured.task), ""),
        class_names=list(class_names),
        pictures=pictures,
        confusion=confusion,
    )
    return pset, tiles


def _safe(namer: Namer, position: int) -> str:
    """The namer's answer; the default name where it has none."""
    try:
        return namer(position) or default_name(position)
    except (IndexError, KeyError, ValueError):
        return default_name(position)
