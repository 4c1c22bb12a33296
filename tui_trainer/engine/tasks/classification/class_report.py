"""The per-class report of a classifier's predictions, in numpy.

The same numbers and text as scikit-learn's `confusion_matrix` and `classification_report`
(`labels=` every class, `zero_division=0`), without importing scikit-learn at the end of every
run (≈1 s of a short run's wall time here). tests/unit/test_class_report.py checks the text and
the values against scikit-learn on generated predictions.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

HEADERS = ("precision", "recall", "f1-score", "support")


def confusion(targets: np.ndarray, preds: np.ndarray, classes: int) -> np.ndarray:
    """`matrix[true][pred]` counts over `classes` classes (int64)."""
    index = targets.astype(np.int64) * classes + preds.astype(np.int64)
    return np.bincount(index, minlength=classes * classes).reshape(classes, classes)


def _divide(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """num / den, 0 where den is 0 (scikit-learn's zero_division=0)."""
    out = np.zeros(np.shape(num), dtype=np.float64)
    np.divide(num, den, out=out, where=den != 0)
    return out


@dataclass(frozen=True)
class ClassScores:
    """Per-class precision, recall, F1 and support, and the three averages of a report."""

    precision: np.ndarray
    recall: np.ndarray
    f1: np.ndarray
    support: np.ndarray
    accuracy: float

    @classmethod
    def of(cls, matrix: np.ndarray) -> ClassScores:
        """The scores of a confusion matrix (`matrix[true][pred]`)."""
        tp = np.diag(matrix).astype(np.float64)
        true = matrix.sum(axis=1).astype(np.float64)
        pred = matrix.sum(axis=0).astype(np.float64)
        total = true.sum()
        accuracy = float(tp.sum() / total) if total else 0.0
        return cls(
            _divide(tp, pred),
            _divide(tp, true),
            _divide(2 * tp, true + pred),
            matrix.sum(axis=1).astype(np.int64),
            accuracy,
        )

    def average(self, kind: str) -> tuple[float, float, float, int]:
        """("macro" | "weighted") precision, recall, F1 and the total support."""
        total = int(self.support.sum())
        values = (self.precision, self.recall, self.f1)
        if kind == "macro":
            p, r, f = (float(np.average(v)) for v in values)
        elif total:
            p, r, f = (float(np.average(v, weights=self.support)) for v in values)
        else:
            p = r = f = 0.0
        return p, r, f, total


def report_text(scores: ClassScores, names: list[str], digits: int = 4) -> str:
    """The report laid out as scikit-learn's `classification_report` prints it."""
    heading = "weighted avg"
    width = max(max(len(n) for n in names), len(heading), digits)
    text = f"{'':>{width}s} " + "".join(f" {h:>9}" for h in HEADERS) + "\n\n"
    row = "{:>{width}s} " + " {:>9.{digits}f}" * 3 + " {:>9}\n"
    for i, name in enumerate(names):
        values = (scores.precision[i], scores.recall[i], scores.f1[i], int(scores.support[i]))
        text += row.format(name, *values, width=width, digits=digits)
    text += "\n"
    total = int(scores.support.sum())
    text += f"{'accuracy':>{width}s} " + f" {'':>9}" * 2
    text += f" {scores.accuracy:>9.{digits}f} {total:>9}\n"
    for kind in ("macro", "weighted"):
        text += row.format(f"{kind} avg", *scores.average(kind), width=width, digits=digits)
    return text
