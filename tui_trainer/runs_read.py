"""Reading a run directory: config.yaml, the metrics.jsonl history and summary.json.

Read-only and safe on a live run (the writer appends whole lines; a last line still being written
is left for the next read). Used by `compare` and meant for the runs browser and `watch` too.
Bad input raises `UserError` with one line naming the file and what was expected.
No torch, no Textual: `tui-trainer compare` piped imports only this and the formatting below.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from tui_trainer.errors import UserError

NOT_METRICS = frozenset({"event", "time", "epoch", "is_best", "lr", "epoch_seconds"})
"""Keys of an epoch line that are not metrics to compare."""


@dataclass
class RunRecord:
    """What a run directory holds, as plain values."""

    path: Path
    config: dict[str, Any]
    records: list[dict[str, Any]]  # metrics.jsonl lines, in order
    summary: dict[str, Any] | None  # None while running, or if the process was killed

    @property
    def name(self) -> str:
        """`<preset>/<timestamp>`: the run's last two path parts (what a legend shows)."""
        return "/".join(self.path.resolve().parts[-2:])

    @property
    def epoch_rows(self) -> list[dict[str, Any]]:
        """The epoch lines (one per finished epoch, a resumed run's earlier ones included)."""
        return [r for r in self.records if r.get("event") == "epoch"]

    @property
    def planned_epochs(self) -> int:
        """`epochs` in the config (0 if absent)."""
        epochs = self.config.get("epochs")
        return epochs if isinstance(epochs, int) else 0

    @property
    def monitored(self) -> tuple[str, str]:
        """The metric that picks the best epoch and its mode, as the engine chose them."""
        best = (self.summary or {}).get("best") or {}
        ckpt = self.config.get("checkpoint") or {}
        task = self.config.get("task")
        name = best.get("metric") or ckpt.get("monitor")
        name = name or ("val_dice" if task == "segmentation" else "val_accuracy")
        mode = ckpt.get("mode") or ("min" if str(name).endswith("loss") else "max")
        return str(name), str(mode)

    @property
    def status(self) -> str:
        """The summary's status, or `no summary` (running, or the process was killed)."""
        status = (self.summary or {}).get("status")
        return str(status) if status else "no summary"

    def best(self) -> tuple[str, float | None, int | None]:
        """(metric, value, epoch) of the best epoch: the summary's, else from the epoch lines."""
        name, mode = self.monitored
        best = (self.summary or {}).get("best") or {}
        if best.get("value") is not None:
            return name, float(best["value"]), best.get("epoch")
        rows = [r for r in self.epoch_rows if _finite(r.get(name))]
        if not rows:
            return name, None, None
        pick = (min if mode == "min" else max)(rows, key=lambda r: r[name])
        return name, float(pick[name]), pick.get("epoch")

    def final(self) -> dict[str, float]:
        """The last epoch's metrics (train and validation)."""
        rows = self.epoch_rows
        if not rows:
            return {}
        return {k: float(v) for k, v in rows[-1].items() if k not in NOT_METRICS and _finite(v)}

    def samples_per_second(self) -> float | None:
        """Training throughput: the summary's, else the last progress line's."""
        value = (self.summary or {}).get("samples_per_second")
        if _finite(value):
            return float(value)
        steps = [r for r in self.records if r.get("event") == "step" and r.get("phase") == "train"]
        last = steps[-1].get("samples_per_second") if steps else None
        return float(last) if _finite(last) else None

    def wall_seconds(self) -> float | None:
        """How long the run took (from the summary)."""
        value = (self.summary or {}).get("wall_seconds")
        return float(value) if _finite(value) else None


def _finite(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def read_run(path: str | Path) -> RunRecord:
    """Read one run directory; `UserError` if it is not one or its files cannot be read."""
    run = Path(path)
    if not run.is_dir():
        raise UserError(f"{run}: not a run directory (no such directory)")
    config_file, metrics_file = run / "config.yaml", run / "metrics.jsonl"
    if not config_file.is_file():
        raise UserError(f"{run}: not a run directory (no config.yaml)")
    try:
        config = yaml.safe_load(config_file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise UserError(f"{config_file}: cannot be read as YAML ({type(exc).__name__})") from None
    if not isinstance(config, dict):
        raise UserError(f"{config_file}: expected a mapping of config keys")
    return RunRecord(run, config, read_metrics(metrics_file), _read_summary(run / "summary.json"))


def read_metrics(path: Path) -> list[dict[str, Any]]:
    """The metrics.jsonl lines as dicts; a last line without its newline (being written) is left
    out; any other line that is not a JSON object is an error naming its number."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UserError(f"{path.parent}: not a run directory (no metrics.jsonl)") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"{path}: cannot be read ({type(exc).__name__})") from None
    lines = text.split("\n")
    complete = lines[:-1]  # the text after the last newline is still being written (or empty)
    records = []
    for number, line in enumerate(complete, 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            raise UserError(f"{path}: line {number} is not JSON") from None
        if not isinstance(record, dict) or "event" not in record:
            raise UserError(f"{path}: line {number} is not an event object with an 'event' key")
        records.append(record)
    return records


def _read_summary(path: Path) -> dict[str, Any] | None:
    if not path.is_file():
        return None
    try:
        summary = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        raise UserError(f"{path}: cannot be read as JSON") from None
    if not isinstance(summary, dict):
        raise UserError(f"{path}: expected a JSON object")
    return summary


def read_runs(paths: list[str]) -> list[RunRecord]:
    """Read the runs to compare: at least two, each a run directory."""
    if len(paths) < 2:
        raise UserError(f"compare: needs at least two run directories, got {len(paths)}")
    return [read_run(p) for p in paths]


def flatten(config: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """A nested config as dotted keys (`optim.lr`), the form overrides use."""
    out: dict[str, Any] = {}
    for key, value in config.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            out.update(flatten(value, f"{dotted}."))
        else:
            out[dotted] = value
    return out


MISSING = object()
"""A key one run's config does not have."""


def config_diff(runs: list[RunRecord]) -> list[tuple[str, list[Any]]]:
    """The dotted config keys whose values differ between the runs, with each run's value
    (`MISSING` where a run lacks the key), in the first config's key order."""
    flats = [flatten(run.config) for run in runs]
    keys: list[str] = []
    for flat in flats:
        keys += [k for k in flat if k not in keys]
    diff = []
    for key in keys:
        values = [flat.get(key, MISSING) for flat in flats]
        if any(v != values[0] for v in values[1:]):
            diff.append((key, values))
    return diff
