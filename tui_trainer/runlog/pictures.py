"""The pictures a run directory holds: what the engine writes and every viewer reads.

Plain names and JSON only (no torch, no PIL, no Textual): the engine writes picture sets
(`write_set`), the console, the runs browser and `eval` read them (`read_set`).

A picture set is one folder of PNG tiles (the overlays already drawn: a segmentation tile is
image | true mask | predicted mask side by side, a detection tile the image with true boxes in
green and predicted ones in red; a classification tile is the image) plus `index.json` saying
what each tile is, and `grid.png` (all tiles with their captions, for people who copy the
folder off the machine). Layout in a run directory:

    samples/epoch-0003/       the fixed validation samples after epoch 3 (kind "samples")
    samples/mistakes/         the worst mistakes of the latest validation (kind "mistakes"),
                              replaced whole after each validation
    eval/<stamp>/mistakes/    the worst mistakes of an `eval` (kind "mistakes")
    eval/<stamp>/confusion.png  the confusion matrix as a coloured heatmap (classification)

After writing a set of samples the run records `{"event": "samples", "epoch": E, "dir":
"samples/epoch-0003", "mistakes": "samples/mistakes" | null}` in metrics.jsonl (SAMPLES_EVENT).
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

SAMPLES = "samples"
"""The run directory's folder of picture sets."""
MISTAKES = "mistakes"
"""The worst mistakes' folder name (in `samples/` and in each `eval/<stamp>/`)."""
CONFUSION_PNG = "confusion.png"
"""The confusion heatmap beside an eval's `mistakes/`."""
INDEX = "index.json"
"""A picture set's index (`PictureSet` as JSON)."""
GRID = "grid.png"
"""All tiles of a set in one PNG, captions drawn under them."""
SAMPLES_EVENT = "samples"
"""The metrics.jsonl record written once a set of samples is in place."""

Kind = Literal["samples", "mistakes"]


def epoch_folder(epoch: int) -> str:
    """The samples folder of an epoch, relative to the run directory: samples/epoch-0003."""
    return f"{SAMPLES}/epoch-{epoch:04d}"


@dataclass(frozen=True)
class Picture:
    """One tile of a set and what it shows."""

    file: str  # the tile's PNG, a plain name inside the set's folder
    position: int  # the image's place in the validation order (rank 0's share under DDP)
    name: str  # the image's file (relative to the data root) or "val #<position>"
    correct: bool  # classification: predicted == true; others: score above the task's bar
    true: str = ""  # classification: the true class name
    pred: str = ""  # classification: the predicted class name
    true_id: int | None = None  # classification: class ids (a confusion cell is (true, pred))
    pred_id: int | None = None
    confidence: float | None = None  # classification: the predicted class's probability
    score: float | None = None  # segmentation: the image's Dice; detection: its F1 at IoU 0.5


@dataclass(frozen=True)
class PictureSet:
    """A folder's pictures: the fixed samples of one epoch, or the worst mistakes of a pass."""

    kind: Kind
    task: str  # "classification" | "segmentation" | "detection"
    epoch: int | None  # the validation pass's epoch (None: an eval of a checkpoint)
    rule: str  # how the pictures were chosen, one line a person reads
    class_names: list[str]
    pictures: list[Picture] = field(default_factory=list)
    # classification: the pass's confusion matrix, matrix[true][pred] (None: other tasks)
    confusion: list[list[int]] | None = None

    def in_cell(self, true_id: int, pred_id: int) -> list[Picture]:
        """The pictures of one confusion cell (those the set kept)."""
        return [p for p in self.pictures if (p.true_id, p.pred_id) == (true_id, pred_id)]


def to_json(pictures: PictureSet) -> str:
    """The set as index.json text (non-finite numbers become null)."""
    data = asdict(pictures)
    for p in data["pictures"]:
        for key in ("confidence", "score"):
            value = p[key]
            if isinstance(value, float) and not math.isfinite(value):
                p[key] = None
    return json.dumps(data, indent=1) + "\n"


def from_json(data: Any) -> PictureSet:
    """A set from index.json's parsed value; ValueError when it is not one."""
    if not isinstance(data, dict):
        raise ValueError("expected a JSON object")
    try:
        kind = data["kind"]
        if kind not in ("samples", "mistakes"):
            raise ValueError(f"kind: expected samples or mistakes, got {kind!r}")
        pictures = [Picture(**p) for p in data.get("pictures") or []]
        for p in pictures:
            if "/" in p.file or "\\" in p.file or p.file in ("", ".", ".."):
                raise ValueError(f"file: expected a plain PNG name, got {p.file!r}")
        return PictureSet(
            kind=kind,
            task=str(data["task"]),
            epoch=data.get("epoch"),
            rule=str(data.get("rule", "")),
            class_names=[str(n) for n in data.get("class_names") or []],
            pictures=pictures,
            confusion=data.get("confusion"),
        )
    except (KeyError, TypeError) as exc:
        raise ValueError(f"not a picture set ({exc})") from None


def read_set(folder: Path) -> PictureSet | None:
    """The set in `folder` (None when it has no readable index.json: absent, half-copied or
    not a picture set). Tiles named in the index may still be missing: check `tile`."""
    try:
        return from_json(json.loads((folder / INDEX).read_text(encoding="utf-8")))
    except (OSError, ValueError):
        return None


def tile(folder: Path, picture: Picture) -> Path | None:
    """The tile's PNG path, None when the file is not there."""
    path = folder / picture.file
    return path if path.is_file() else None


def latest_samples(run_dir: Path) -> list[Path]:
    """The run's samples folders, oldest epoch first."""
    root = run_dir / SAMPLES
    if not root.is_dir():
        return []
    return sorted(p for p in root.glob("epoch-*") if (p / INDEX).is_file())


def latest_mistakes(run_dir: Path) -> Path | None:
    """The mistakes a viewer should show for a run: its newest eval's, else the run's own."""
    evals = sorted(
        (p for p in (run_dir / "eval").glob("*") if (p / MISTAKES / INDEX).is_file()),
        key=lambda p: p.stat().st_mtime,
    )
    if evals:
        return evals[-1] / MISTAKES
    own = run_dir / SAMPLES / MISTAKES
    return own if (own / INDEX).is_file() else None
