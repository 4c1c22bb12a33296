"""Which checkpoint a run continues from: the newest complete one, by what it records.

A run directory can hold several checkpoints: `last.pt` (epoch ends, stops, requests),
periodic `step_*.pt` / `epoch_*.pt` (`checkpoint.every_steps` / `every_epochs`) and `best.pt`.
After a kill the newest of them may be a periodic one, written after last.pt. Each is written
atomically (complete or absent), and each records its position (`progress`: global step, epoch,
batch) and the run segment that wrote it (`segment`: when that process's run began, so a
resume that went back to an older checkpoint starts a newer line that outranks the abandoned
one). File times are not used: copying a folder changes them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

PATTERNS = ("last.pt", "step_*.pt", "epoch_*.pt", "best.pt")
"""The checkpoints of a run's checkpoints/ folder; on equal positions the first listed wins."""


@dataclass(frozen=True)
class Candidate:
    """One checkpoint file and where its run was when it was written."""

    path: Path
    segment: float  # when the writing run segment began (0: not recorded)
    global_step: int
    epoch: int  # epochs completed
    batch: int  # micro-batches done in the epoch in hand
    rank: int  # the order of PATTERNS (lower wins a tie)

    def key(self) -> tuple[float, int, int, int, int]:
        """Sort key: newer is larger."""
        return (self.segment, self.global_step, self.epoch, self.batch, -self.rank)

    def describe(self) -> str:
        """`checkpoints/step_00000171.pt (epoch 3, step 171)`."""
        return (
            f"{self.path.parent.name}/{self.path.name} "
            f"(epoch {self.epoch + 1} at batch {self.batch}, step {self.global_step})"
        )


def read_position(path: Path, rank: int = 0) -> Candidate | None:
    """The recorded position of checkpoint `path`, or None when it cannot be read.

    The file is memory-mapped: only the small pickled structure is read, not the tensors.
    """
    try:
        blob: Any = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
        progress = blob["progress"]
        return Candidate(
            path,
            float(blob.get("segment", 0.0)),
            int(progress["global_step"]),
            int(progress["epoch"]),
            int(progress.get("batch", 0)),
            rank,
        )
    except Exception:  # not a readable checkpoint: never a candidate
        return None


def candidates(folder: Path) -> list[Candidate]:
    """The readable checkpoints in `folder`, newest first."""
    seen: set[Path] = set()
    found: list[Candidate] = []
    for rank, pattern in enumerate(PATTERNS):
        for path in sorted(folder.glob(pattern)):
            if path in seen or not path.is_file():
                continue
            seen.add(path)
            candidate = read_position(path, rank)
            if candidate is not None:
                found.append(candidate)
    return sorted(found, key=Candidate.key, reverse=True)


def newest(folder: Path) -> tuple[Path | None, str | None]:
    """The checkpoint to resume a run from (its `checkpoints/` folder), and a note when that is
    not last.pt (why another one was chosen). (None, None) when there is none."""
    found = candidates(folder)
    if not found:
        return None, None
    best = found[0]
    if best.path.name == "last.pt":
        return best.path, None
    last = next((c for c in found if c.path.name == "last.pt"), None)
    if last is None:
        return best.path, f"resuming from {best.describe()}: there is no readable last.pt"
    return best.path, f"resuming from {best.describe()}, newer than {last.describe()}"


def newer_than(path: Path) -> str | None:
    """A note when the checkpoint folder holding `path` has a newer checkpoint than `path`."""
    path = Path(path)
    if path.parent.name != "checkpoints":
        return None
    chosen = read_position(path)
    if chosen is None:
        return None
    found = candidates(path.parent)
    if not found or found[0].key()[:4] <= chosen.key()[:4]:
        return None
    run_dir = path.parent.parent
    return (
        f"a newer checkpoint exists: {found[0].describe()}; this run continues from "
        f"{path.name} as asked (tui-trainer run --resume {run_dir} takes the newest)"
    )
