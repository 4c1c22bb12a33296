"""The names `remote` and its tests used before the run-record package: no reader of its own.

`tui_trainer.runlog` reads run directories; this module only forwards to it (remove it once no
import names it).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tui_trainer.runlog.layout import METRICS, is_run_dir
from tui_trainer.runlog.lines import scan

__all__ = ["is_run_dir", "read_records"]


def read_records(run_dir: Path, start: int = 0, stop: int | None = None) -> list[dict[str, Any]]:
    """metrics.jsonl records of lines `start+1 .. stop`, each with `"seq"` (its line number);
    damaged lines skipped, a missing file empty (`runlog.lines.scan`, tolerant)."""
    try:
        return scan(Path(run_dir) / METRICS, start=start, stop=stop).records
    except OSError:
        return []
