"""What replaced library calls on the start-up path gives the libraries' own results.

The split (scikit-learn's `train_test_split`), the digits (`load_digits`) and the validation
accuracy (torchmetrics' micro `MulticlassAccuracy`) are computed without importing those
libraries at run time; here each is compared with the library on random inputs.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from torchmetrics.classification import MulticlassAccuracy

from tui_trainer.engine.data import digits as digits_module
from tui_trainer.engine.data.shuffle_split import shuffle_split
from tui_trainer.engine.tasks.classification.metrics import ClassificationEvaluator

SEEDS = st.integers(0, 2**32 - 1)


@settings(max_examples=150, deadline=None)
@given(n=st.integers(2, 300), data=st.data(), seed=SEEDS)
def test_plain_split_equals_train_test_split(n, data, seed):
    n_val = data.draw(st.integers(1, n - 1))
    train, val = train_test_split(list(range(n)), test_size=n_val, random_state=seed)
    assert shuffle_split(n, n_val, seed) == (list(train), list(val))


@st.composite
def stratified_cases(draw):
    """Labels with every class at least twice, and a hold-out leaving each side >= k samples."""
    k = draw(st.integers(1, 8))
    counts = draw(st.lists(st.integers(2, 40), min_size=k, max_size=k))
    labels = [c for c, count in enumerate(counts) for _ in range(count)]
    labels = draw(st.permutations(labels))
    n = len(labels)
    n_val = draw(st.integers(k, n - k))
    return labels, n_val


@settings(max_examples=150, deadline=None)
@given(case=stratified_cases(), seed=SEEDS)
def test_stratified_split_equals_train_test_split(case, seed):
    labels, n_val = case
    n = len(labels)
    train, val = train_test_split(
        list(range(n)), test_size=n_val, random_state=seed, stratify=list(labels)
    )
    assert shuffle_split(n, n_val, seed, labels) == (list(train), list(val))


def test_the_digits_equal_load_digits(monkeypatch):
    reference = load_digits()
    images, targets = digits_module.digits_arrays()
    assert images.dtype == reference.images.dtype and targets.dtype == reference.target.dtype
    np.testing.assert_array_equal(images, reference.images)
    np.testing.assert_array_equal(targets, reference.target)
    monkeypatch.setattr(digits_module, "_digits_csv", lambda: None)  # the fallback path
    images, targets = digits_module.digits_arrays()
    np.testing.assert_array_equal(images, reference.images)
    np.testing.assert_array_equal(targets, reference.target)


@pytest.mark.parametrize("seed", range(8))
def test_validation_accuracy_equals_torchmetrics(seed):
    gen = torch.Generator().manual_seed(seed)
    classes = int(torch.randint(2, 12, (), generator=gen))
    ours = ClassificationEvaluator(classes, torch.device("cpu"))
    theirs = MulticlassAccuracy(num_classes=classes, average="micro")
    for _ in range(2):  # two passes: reset clears everything
        ours.reset()
        theirs.reset()
        for _ in range(int(torch.randint(1, 6, (), generator=gen))):
            size = int(torch.randint(1, 70, (), generator=gen))
            logits = torch.randn(size, classes, generator=gen)
            targets = torch.randint(0, classes, (size,), generator=gen)
            targets[: size // 3] = logits[: size // 3].argmax(1)  # some right, some wrong
            ours.update(logits, targets)
            theirs.update(logits.argmax(1), targets)
        assert ours.compute()["val_accuracy"] == float(theirs.compute())


def test_accuracy_before_any_batch_is_zero():
    assert ClassificationEvaluator(3, torch.device("cpu")).compute() == {"val_accuracy": 0.0}


@pytest.mark.parametrize("seed", [2**32, 2**63 - 1])
def test_seeds_past_32_bits_split_like_their_32_bit_fold(seed):
    """The config allows seeds up to 2**63 - 1; numpy's generator takes 32 bits: no crash, and
    the split is the folded seed's (as the run's numpy seeding folds it)."""
    assert shuffle_split(20, 5, seed) == shuffle_split(20, 5, seed % 2**32)
    labels = [i % 2 for i in range(20)]
    train, val = shuffle_split(20, 6, seed, labels)
    assert sorted(train + val) == list(range(20)) and len(val) == 6
