"""`tui-trainer eval`: a checkpoint's metrics on the run's validation split (or other data).

The pass is the trainer's own `validate` (same loader, autocast, loss and evaluator), so
`best.pt` on the run's own split gives back the run's best validation metric exactly.
"""

from __future__ import annotations

import csv
import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image

from tui_trainer.after.loading import LoadedRun, open_run
from tui_trainer.after.outputs import staged_dir, timestamped
from tui_trainer.engine.pictures.heatmap import confusion_png
from tui_trainer.engine.pictures.recorder import make_collector
from tui_trainer.engine.pictures.sets import build
from tui_trainer.engine.pictures.write import write_set
from tui_trainer.runlog.pictures import CONFUSION_PNG, MISTAKES, PictureSet

# Overrides that leave the evaluated samples as they were (anything else under data., or the
# seed that draws the split, means "other data").
SAME_SAMPLES = ("data.num_workers", "data.pin_memory", "data.val_batch_size", "data.batch_size")


def same_samples(overrides: list[str]) -> bool:
    """Whether the overrides keep the run's own validation samples."""
    keys = [o.partition("=")[0].strip() for o in overrides]
    return not any(
        (k.startswith("data.") and k not in SAME_SAMPLES) or k == "data" or k == "seed"
        for k in keys
    )


@dataclass
class EvalResult:
    """What one evaluation found; `to_json` is eval.json."""

    run_dir: Path
    checkpoint: Path
    task: str
    metrics: dict[str, float]
    details: dict[str, Any]
    report: str  # the evaluator's text report (per-class table, confusion matrix)
    class_names: list[str]
    recorded: dict[str, Any]  # the run's best as the checkpoint recorded it
    own_data: bool  # evaluated on the run's own validation split (no data overrides)
    samples: int
    seconds: float
    info: dict[str, Any] = field(default_factory=dict)
    # the worst mistakes of the pass (None: pictures.mistakes is 0 or the task draws none);
    # written to eval/<stamp>/mistakes/ by `write_eval`, tiles in the set's order
    mistakes: PictureSet | None = None
    mistake_tiles: list[Image.Image] = field(default_factory=list, repr=False)

    @property
    def reproduced(self) -> bool | None:
        """Whether the monitored metric equals the recorded best (None when not comparable)."""
        value, metric = self.recorded.get("value"), self.recorded.get("metric")
        if not self.own_data or value is None or metric not in self.metrics:
            return None
        return self.metrics[metric] == value

    def to_json(self) -> dict[str, Any]:
        """The eval.json document."""
        return {
            "run_dir": str(self.run_dir),
            "checkpoint": str(self.checkpoint),
            "task": self.task,
            "samples": self.samples,
            "metrics": self.metrics,
            "run_best": self.recorded,
            "reproduces_run_best": self.reproduced,
            **self.details,
            "seconds": round(self.seconds, 3),
            **self.info,
        }


def evaluate(run: LoadedRun) -> EvalResult:
    """One validation pass of the loaded checkpoint over the loaded data's validation split."""
    t0 = time.monotonic()
    pictures = run.config.pictures
    collector = make_collector(
        run.config.task, run.data, samples=0, mistakes=pictures.mistakes, size=pictures.size
    )
    metrics = run.trainer.validate(collector)
    evaluator = run.trainer.evaluator
    names = run.class_names
    details = evaluator.details(names)
    mistakes, tiles = _mistakes(collector, details, names, pictures.size)
    own = same_samples(run.overrides)
    data = run.config.data
    return EvalResult(
        run_dir=run.run_dir,
        checkpoint=run.checkpoint,
        task=run.config.task,
        metrics=metrics,
        details=details,
        report=evaluator.report(names),
        class_names=names,
        recorded=run.recorded_best,
        own_data=own,
        samples=run.data.val_samples,
        seconds=time.monotonic() - t0,
        info={
            "data": {
                "name": data.name,
                "root": data.root,
                "split": "validation",
                "val_split": data.val_split,
            },
            "overrides": run.overrides,
            "device": str(run.device),
            "precision": run.config.precision,
            "checkpoint_epoch": (run.state.get("progress") or {}).get("epoch"),
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        },
        mistakes=mistakes,
        mistake_tiles=tiles,
    )


def _mistakes(
    collector: Any, details: dict[str, Any], names: list[str], size: int
) -> tuple[PictureSet | None, list[Image.Image]]:
    """The pass's mistakes set (epoch None) with the evaluator's confusion matrix."""
    if collector is None:
        return None, []
    captured = collector.finish()
    if captured.skipped:
        return None, []
    matrix = details.get("confusion_matrix")
    if matrix:
        captured.confusion = matrix["matrix"]
    return build(captured, "mistakes", epoch=None, class_names=names, size=size)


def evaluate_run(
    run_dir: str | Path, checkpoint: str = "best", overrides: list[str] | None = None
) -> EvalResult:
    """Open the run and evaluate the checkpoint (nothing written)."""
    return evaluate(open_run(run_dir, checkpoint, overrides))


def write_eval(result: EvalResult) -> Path:
    """Write eval.json (+ confusion_matrix.csv / per_class.csv / pr_curves.csv, report.txt,
    confusion.png, the worst mistakes in mistakes/) into a new `eval/<timestamp>/` folder of
    the run, atomically; returns the folder."""
    with staged_dir(timestamped(result.run_dir / "eval"), "RUN_DIR", renumber=True) as staged:
        tmp = staged.tmp
        text = json.dumps(result.to_json(), indent=2, default=_jsonable) + "\n"
        (tmp / "eval.json").write_text(text, encoding="utf-8")
        if result.report:
            (tmp / "report.txt").write_text(result.report.rstrip() + "\n", encoding="utf-8")
        matrix = result.details.get("confusion_matrix")
        if matrix:
            with open(tmp / "confusion_matrix.csv", "w", newline="", encoding="utf-8") as fh:
                w = csv.writer(fh)
                w.writerow(["true \\ predicted", *matrix["labels"]])
                for name, row in zip(matrix["labels"], matrix["matrix"], strict=True):
                    w.writerow([name, *row])
        per_class = result.details.get("per_class")
        if per_class:
            columns = list(next(iter(per_class.values())))
            with open(tmp / "per_class.csv", "w", newline="", encoding="utf-8") as fh:
                w = csv.writer(fh)
                w.writerow(["class", *columns])
                for name, row in per_class.items():
                    w.writerow([name, *(row[c] for c in columns)])
        curves = result.details.get("pr_curves")
        if curves:
            write_pr_curves(tmp / "pr_curves.csv", curves)
        if matrix:
            confusion_png(matrix["matrix"], matrix["labels"]).save(tmp / CONFUSION_PNG)
        if result.mistakes is not None:
            (tmp / MISTAKES).mkdir()
            write_set(tmp / MISTAKES, result.mistakes, result.mistake_tiles)
    return staged.final


def write_pr_curves(path: Path, curves: dict[str, dict[str, list[float]]]) -> None:
    """Detection's precision-recall curves as one long CSV: `class,recall,precision` (a row
    per class and recall point; COCO's interpolated precision, empty where undefined)."""
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["class", "recall", "precision"])
        for name, curve in curves.items():
            for recall, precision in zip(curve["recall"], curve["precision"], strict=True):
                w.writerow([name, recall, "" if precision is None else precision])


def _jsonable(value: Any) -> Any:
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return str(value)
