"""The rows of `tui-trainer compare RUN_A RUN_B ...` (the command is `commands/compare.py`).

The rows (config keys that differ; status, epochs, best and final metrics, speed) are built here
once, and both the text output and the Textual comparison screen show them. Imports no UI.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import yaml

from tui_trainer import formatting as fmt
from tui_trainer.runlog import RunRecord

Rows = list[tuple[str, list[str]]]

MISSING = object()
"""A key one run's config does not have."""


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


@dataclass(frozen=True)
class Steered:
    """A config value steering changed during the run: shown as `8 (steered from 6)`."""

    started: Any
    now: Any

    def __str__(self) -> str:
        return f"{self.now} (steered from {self.started})"


def effective_config(run: RunRecord) -> dict[str, Any]:
    """The run's config as dotted keys, with what steering changed for the whole run (its
    length: `epochs`, read from the records by `RunRecord.planned_epochs`) as `Steered`."""
    flat = flatten(run.config)
    configured, planned = run.configured_epochs, run.planned_epochs
    if configured is not None and planned and planned != configured:
        flat["epochs"] = Steered(configured, planned)
    return flat


def config_diff(runs: list[RunRecord]) -> list[tuple[str, list[Any]]]:
    """The dotted config keys whose values differ between the runs, with each run's value
    (`MISSING` where a run lacks the key; `Steered` where steering changed it), in the first
    config's key order."""
    flats = [effective_config(run) for run in runs]
    keys: list[str] = []
    for flat in flats:
        keys += [k for k in flat if k not in keys]
    diff = []
    for key in keys:
        values = [flat.get(key, MISSING) for flat in flats]
        if any(v != values[0] for v in values[1:]):
            diff.append((key, values))
    return diff


def _value(value: Any) -> str:
    if value is MISSING:
        return "-"
    if isinstance(value, (dict, list)):
        return yaml.safe_dump(value, default_flow_style=True, width=1000).strip()
    if value is None:
        return "null"
    if isinstance(value, Steered):
        return str(value)
    return str(value)


def short_labels(names: list[str]) -> list[str]:
    """Column labels for `names` without the part they all share, cut back to the last `/` or
    `-` (``quickstart/20261201-182204`` and ``quickstart/20261201-182208`` become ``182204``
    and ``182208``); the names themselves when that would leave a label empty or not unique."""
    if len(names) < 2:
        return list(names)
    common = names[0]
    for name in names[1:]:
        while not name.startswith(common):
            common = common[:-1]
    cut = max(common.rfind("/"), common.rfind("-")) + 1
    labels = [name[cut:] for name in names]
    if not all(labels) or len(set(labels)) < len(labels):
        return list(names)
    return labels


def diff_rows(runs: list[RunRecord]) -> Rows:
    """One row per config key that differs: the key, then each run's value."""
    return [(key, [_value(v) for v in values]) for key, values in config_diff(runs)]


def metric_rows(runs: list[RunRecord]) -> Rows:
    """Status, epochs, best (monitored metric), final metrics, wall time and samples/s."""
    rows: Rows = [
        ("status", [str(run.status) for run in runs]),
        ("epochs", [f"{len(run.epoch_rows)}/{run.planned_epochs or '?'}" for run in runs]),
    ]
    bests = [run.best() for run in runs]
    names = sorted({name for name, _, _ in bests})
    for name in names:
        cells = []
        for metric, value, epoch in bests:
            shown = fmt.metric(name, value) if metric == name and value is not None else "-"
            cells.append(f"{shown} @ {epoch}" if shown != "-" and epoch else shown)
        rows.append((f"best {name}", cells))
    finals = [run.final() for run in runs]
    keys: list[str] = []
    for final in finals:
        keys += [k for k in final if k not in keys]
    for key in keys:
        rows.append((f"final {key}", [fmt.metric(key, f.get(key)) for f in finals]))
    rows.append(("wall time", [fmt.duration(run.wall_seconds()) for run in runs]))
    rows.append(("samples/s", [_rate(run.samples_per_second()) for run in runs]))
    return rows


def _rate(value: float | None) -> str:
    return "-" if value is None else f"{value:,.0f}"


def table(header: list[str], rows: Rows) -> str:
    """Rows as aligned columns under `header`."""
    return fmt.text_table([header, *([label, *cells] for label, cells in rows)])


def render_text(runs: list[RunRecord]) -> str:
    """The config diff and the side-by-side metrics, as printed when piped."""
    names = [run.name for run in runs]
    out = ["# config: keys that differ"]
    diff = diff_rows(runs)
    out.append(table(["key", *names], diff) if diff else "(the configs are identical)")
    out += ["", "# metrics", table(["", *names], metric_rows(runs))]
    return "\n".join(out) + "\n"
