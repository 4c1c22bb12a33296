"""The `predict` command: checks the flags against the run's task, then predicts with the
task's module (`after.predict` for classes and masks, `after.detect_predict` for boxes) and
prints the answers; kept apart so neither module imports the other's dispatcher."""

from __future__ import annotations

import sys
from pathlib import Path

from tui_trainer.after.images import find_images
from tui_trainer.after.loading import open_run, run_task
from tui_trainer.after.outputs import timestamped
from tui_trainer.after.predict import (
    DEFAULT_CONF,
    DEFAULT_MAX_DET,
    PredictOutcome,
    check_limits,
    predict,
)
from tui_trainer.errors import UserError


def predict_command(
    run_dir: str,
    inputs: list[str],
    *,
    top_k: int | None = None,
    out: str | None = None,
    checkpoint: str = "best",
    batch_size: int = 32,
    overrides: list[str] | None = None,
    conf: float | None = None,
    max_det: int | None = None,
) -> int:
    """The `predict` command: print the answers, write the files; exit code 0 or 2.

    `top_k` (default 3) is for classification runs, `conf` / `max_det` (defaults 0.25 / 100)
    for detection runs; a flag another task has no use for is refused.
    """
    if top_k is not None and top_k < 1:
        raise UserError(f"--top-k: expected a whole number >= 1, got {top_k}")
    if batch_size < 1:
        raise UserError(f"--batch-size: expected a whole number >= 1, got {batch_size}")
    check_limits(conf, max_det)
    found, ignored = find_images(inputs)
    if not found:
        raise UserError(f"IMAGE_OR_FOLDER: no image files in {', '.join(inputs)}")
    task = run_task(run_dir, overrides)
    given = [k for k, v in (("--conf", conf), ("--max-det", max_det)) if v is not None]
    if task != "detection" and given:
        raise UserError(f"{given[0]}: applies to detection runs only (this run's task: {task})")
    if task != "classification" and top_k is not None:
        hint = "; detection: --conf, --max-det" if task == "detection" else ""
        raise UserError(
            f"--top-k: applies to classification runs only (this run's task: {task}{hint})"
        )
    run = open_run(run_dir, checkpoint, overrides)
    out_dir = Path(out) if out else timestamped(run.run_dir / "predict")

    key = "--out" if out else "RUN_DIR"
    if task == "detection":
        from tui_trainer.after import detect_predict  # the detection stack: only when needed

        outcome = detect_predict.predict_detections(
            run,
            found,
            out_dir,
            conf=DEFAULT_CONF if conf is None else conf,
            max_det=DEFAULT_MAX_DET if max_det is None else max_det,
            batch_size=batch_size,
            out_key=key,
            renumber=not out,
        )
        out_dir = outcome.out_dir or out_dir
        for path, reason in outcome.skipped:
            print(f"skipped {path}: {reason}", file=sys.stderr)
        for line in detect_predict.summary_lines(outcome, found):
            print(line)
        _done_line(outcome, ignored, out_dir)
        return 0
    outcome = predict(
        run,
        found,
        out_dir,
        top_k=3 if top_k is None else top_k,
        batch_size=batch_size,
        out_key=key,
        renumber=not out,
    )
    out_dir = outcome.out_dir or out_dir
    outcome.ignored = ignored
    for path, reason in outcome.skipped:  # (when none could be read: one error line instead)
        print(f"skipped {path}: {reason}", file=sys.stderr)
    if run.config.task == "classification":
        width = max(len("file"), *(len(str(r["file"])) for r in outcome.rows))
        cwidth = max(len("class"), *(len(str(r["class"])) for r in outcome.rows))
        print(f"{'file':<{width}}  {'class':<{cwidth}}  probability")
        for r in outcome.rows:
            print(f"{r['file']!s:<{width}}  {r['class']!s:<{cwidth}}  {r['probability']:.4f}")
    else:
        for r in outcome.rows:
            print(f"{r['file']}  →  {out_dir / str(r['mask'])}")
    _done_line(outcome, ignored, out_dir)
    return 0


def _done_line(outcome: PredictOutcome, ignored: int, out_dir: Path) -> None:
    extra = f", {len(outcome.skipped)} skipped" if outcome.skipped else ""
    extra += f", {ignored} non-image file(s) ignored" if ignored else ""
    print(f"{outcome.done} image(s) predicted{extra}; written to {out_dir}", file=sys.stderr)
