"""The `export` command: exports with the task's module (`after.export` for classifiers and
segmenters, `after.detect_export` for detectors) and prints what was checked; kept apart so
neither module imports the other's dispatcher."""

from __future__ import annotations

import sys
from pathlib import Path

from tui_trainer.after.export import (
    ATOL,
    FORMATS,
    RTOL,
    ExportMismatch,
    export_model,
    require_onnx,
)
from tui_trainer.after.loading import open_run
from tui_trainer.errors import UserError


def export_command(
    run_dir: str,
    fmt: str,
    *,
    out: str | None = None,
    checkpoint: str = "best",
    overrides: list[str] | None = None,
) -> int:
    """The `export` command; exit 0, 1 when the check fails, 2 for bad input."""
    if fmt not in FORMATS:
        raise UserError(f"--format: expected one of {', '.join(FORMATS)}, got {fmt!r}")
    if fmt == "onnx":  # before loading anything
        require_onnx()
    run = open_run(run_dir, checkpoint, overrides)
    detection = run.config.task == "detection"
    try:
        if detection:
            from tui_trainer.after.detect_export import export_detector  # only when needed

            result = export_detector(run, fmt, Path(out) if out else None)
        else:
            result = export_model(run, fmt, Path(out) if out else None)
    except ExportMismatch as exc:
        print(f"tui-trainer: error: {exc}", file=sys.stderr)
        return exc.exit_code
    print(f"exported {fmt}: {result.model_file}")
    print(f"preprocessing: {result.preprocessing_file}")
    if detection:
        from tui_trainer.after.detect_export import BOX_ATOL

        print(
            f"check: detections match PyTorch on {result.samples} validation images: max |box "
            f"diff| {result.max_abs_diff:.2e} px (tolerance {BOX_ATOL:g}); input: one letterboxed "
            "RGB image (3, S, S) in [0, 1]; outputs: boxes (xyxy, network pixels), scores, "
            "labels (class index + 1)"
        )
        return 0
    print(
        f"check: outputs match PyTorch on {result.samples} validation inputs (and a batch of 1): "
        f"max |diff| {result.max_abs_diff:.2e} (tolerance {ATOL:g} + {RTOL:g}·|y|)"
    )
    return 0
