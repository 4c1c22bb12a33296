"""The numpy per-class report equals scikit-learn's, text and values, on generated predictions."""

from __future__ import annotations

import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tui_trainer.engine.tasks.classification.class_report import ClassScores, confusion, report_text

sklearn_metrics = pytest.importorskip("sklearn.metrics")


@st.composite
def predictions(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Targets and predictions over 2-12 classes, some classes never seen or never predicted."""
    classes = draw(st.integers(2, 12))
    n = draw(st.integers(1, 300))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    used = rng.integers(1, classes + 1)  # only the first `used` classes occur in the targets
    targets = rng.integers(0, used, n)
    noise = rng.random(n) < draw(st.floats(0.0, 1.0))
    preds = np.where(noise, rng.integers(0, classes, n), targets)
    long = draw(st.booleans())
    names = [f"class-{i}-with-a-long-name" if long else str(i) for i in range(classes)]
    return targets, preds, names


@settings(max_examples=60, deadline=None)
@given(predictions())
def test_report_equals_sklearn(case: tuple[np.ndarray, np.ndarray, list[str]]) -> None:
    targets, preds, names = case
    labels = list(range(len(names)))
    matrix = confusion(targets, preds, len(names))
    want = sklearn_metrics.confusion_matrix(targets, preds, labels=labels)
    assert matrix.tolist() == want.tolist()
    scores = ClassScores.of(matrix)
    expected = sklearn_metrics.classification_report(
        targets, preds, labels=labels, target_names=names, digits=4, zero_division=0
    )
    # scikit-learn prints the support as a float ("1.0") when every score is 0; ours stays "1".
    assert report_text(scores, names) == re.sub(r"(\d+)\.0$", r"  \1", expected, flags=re.M)
    table = sklearn_metrics.classification_report(
        targets, preds, labels=labels, target_names=names, zero_division=0, output_dict=True
    )
    for i, name in enumerate(names):
        assert scores.precision[i] == pytest.approx(table[name]["precision"], abs=1e-12)
        assert scores.recall[i] == pytest.approx(table[name]["recall"], abs=1e-12)
        assert scores.f1[i] == pytest.approx(table[name]["f1-score"], abs=1e-12)
        assert scores.support[i] == table[name]["support"]
    for kind in ("macro", "weighted"):
        p, r, f, support = scores.average(kind)
        want = table[f"{kind} avg"]
        assert (p, r, f) == pytest.approx((want["precision"], want["recall"], want["f1-score"]))
        assert support == want["support"]
    assert scores.accuracy == pytest.approx(table["accuracy"], abs=1e-12)
