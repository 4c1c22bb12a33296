"""Reading what a run directory holds: its metrics.jsonl records, config and summary.

Readers never trust the files: a line that is not a JSON object (a writer killed mid-line) is
skipped, a missing or damaged file reads as empty.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml


def read_records(run_dir: Path, start: int = 0, stop: int | None = None) -> list[dict[str, Any]]:
    """metrics.jsonl records for lines `start+1 .. stop` (1-based line numbers; all by default).

    Each record gets `"seq"`, its line number, as the socket's events carry it.
    """
    try:
        data = (run_dir / "metrics.jsonl").read_bytes()
    except OSError:
        return []
    lines = data.split(b"\n")[:-1]  # after the last newline: nothing, or a line being written
    records = []
    for number, line in enumerate(lines[start:stop], start=start + 1):
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict) and isinstance(record.get("event"), str):
            records.append({**record, "seq": number})
    return records


def read_config(run_dir: Path) -> dict[str, Any]:
    """The run's resolved config.yaml ({} when missing or damaged)."""
    try:
        data = yaml.safe_load((run_dir / "config.yaml").read_text())
    except (OSError, yaml.YAMLError):
        return {}
    return data if isinstance(data, dict) else {}


def read_summary(run_dir: Path) -> dict[str, Any] | None:
    """summary.json (None while the run is going, or after it died without one)."""
    try:
        data = json.loads((run_dir / "summary.json").read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def is_run_dir(path: Path) -> bool:
    """A directory a run wrote (it has config.yaml and metrics.jsonl)."""
    return (path / "config.yaml").is_file() and (path / "metrics.jsonl").is_file()
