"""What `find-lr` and `find-batch` print: the chart, the figures measured, the choice and why,
and a last line for scripts (`suggested lr: 0.0123`, `suggested batch size: 128`). No torch."""

from __future__ import annotations

import json
import shutil
from typing import Any

from tui_trainer.find.chart import render
from tui_trainer.formatting import text_table

CHART_WIDTH = 72
"""The chart's width when the output is not a terminal (a file, a pipe, a CI log)."""


def lr_lines(finding: dict[str, Any], *, terminal: bool) -> list[str]:
    """The LR finder's report from its `as_json` values; the last line is the suggestion."""
    f = finding
    width = min(shutil.get_terminal_size((100, 24)).columns, 120) if terminal else CHART_WIDTH
    lines = [f"note: {n}" for n in f.get("notes", [])]
    lines += render(
        f["lrs"], f["losses"], f["smoothed"], f["suggested_lr"], width=width, fancy=terminal
    )
    ran = len(f["lrs"])
    lines += [
        "",
        f"lr range test: {ran} of {f['steps']} steps, lr {f['start']:.3g} → {f['end']:.3g}"
        + (f"; {f['stopped']}" if f["stopped"] else ""),
        f"steepest descent of the smoothed loss: {_lr(f['steepest_lr'])}   valley: "
        f"{_lr(f['valley_lr'])}   lowest smoothed loss at: {_lr(f['min_loss_lr'])}",
        f"chose {f['method']}: {f['reason']}",
        *(f"warning: {w}" for w in f["warnings"]),
        f"suggested lr: {f['suggested_lr']:.3g}",
    ]
    return lines


def batch_lines(finding: dict[str, Any]) -> list[str]:
    """The batch finder's report from its `as_json` values; the last line is the suggestion
    (or says that none fits)."""
    f = finding
    cuda = f["device"].startswith("cuda")
    memory = "peak memory" if cuda else "RSS growth"
    rows = [["batch", memory, "samples/s", "fits"]]
    for t in f["trials"]:
        rows.append(
            [
                str(t["batch"]),
                "-" if t["peak_bytes"] is None else size_text(t["peak_bytes"]),
                "-" if t["samples_per_s"] is None else f"{t['samples_per_s']:,.0f}",
                "yes" if t["fits"] else f"no: {t['why']}",
            ]
        )
    capacity = "device memory" if cuda else "RAM available"
    lines = [f"note: {n}" for n in f.get("notes", [])]
    lines += [
        f"find-batch on {f['device']}: bound {size_text(f['bound_bytes'])} "
        f"({capacity} {size_text(f['capacity_bytes'])}); validation batch {f['val_batch']}",
        text_table(rows),
        f"chose {f['reason']}" if f["batch"] else f"no batch fits: {f['reason']}",
    ]
    if f["batch"]:
        lines.append(f"suggested batch size: {f['batch']}")
    return lines


def as_json(finding: dict[str, Any]) -> str:
    """One JSON object (for `--json`)."""
    return json.dumps(finding, allow_nan=False)


def _lr(value: float | None) -> str:
    return "-" if value is None else f"{value:.3g}"


def size_text(n: int) -> str:
    """Bytes as `3.7 MiB`, `1.2 GiB` (binary units, one decimal)."""
    for unit, scale in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if abs(n) >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n} B"
