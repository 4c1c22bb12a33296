"""scikit-learn's seeded `train_test_split` (plain and stratified), in numpy alone.

The same draws from `numpy.random.RandomState(seed)` in the same order as scikit-learn's
`ShuffleSplit` / `StratifiedShuffleSplit`, so every split equals the one scikit-learn gives
(tests/unit/test_startup_equivalence.py compares them on random inputs). It exists so that a
run does not import scikit-learn (and scipy) before its first epoch.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def _approximate_mode(counts: np.ndarray, n_draws: int, rng: np.random.RandomState) -> np.ndarray:
    """scikit-learn's `_approximate_mode`: per-class draws summing to `n_draws`, ties broken
    at random (the same `rng.choice` calls)."""
    continuous = counts / counts.sum() * n_draws
    floored = np.floor(continuous)
    need = int(n_draws - floored.sum())
    if need > 0:
        remainder = continuous - floored
        for value in np.sort(np.unique(remainder))[::-1]:
            (inds,) = np.where(remainder == value)
            add_now = min(len(inds), need)
            floored[rng.choice(inds, size=add_now, replace=False)] += 1
            need -= add_now
            if need == 0:
                break
    return floored.astype(int)


def shuffle_split(
    n: int, n_val: int, seed: int, labels: Sequence[int] | None = None
) -> tuple[list[int], list[int]]:
    """(train, val) indices of `range(n)` with `n_val` held out, exactly as
    `train_test_split(range(n), test_size=n_val, random_state=seed, stratify=labels)`.

    The caller has checked the sizes (both sides non-empty; stratified: every class at least
    twice and no more classes than either side holds). numpy's legacy generator takes 32-bit
    seeds: larger ones (the config allows up to 2**63 - 1) are folded, as the run's numpy
    seeding folds them (`engine/device.py`).
    """
    rng = np.random.RandomState(seed % 2**32)
    n_train = n - n_val
    if labels is None:
        order = rng.permutation(n)
        return order[n_val : n_val + n_train].tolist(), order[:n_val].tolist()
    y = np.asarray(labels)
    _, y_indices, counts = np.unique(y, return_inverse=True, return_counts=True)
    by_class = np.split(np.argsort(y_indices, kind="stable"), np.cumsum(counts)[:-1])
    n_i = _approximate_mode(counts, n_train, rng)
    t_i = _approximate_mode(counts - n_i, n_val, rng)
    train: list[int] = []
    val: list[int] = []
    for i, members in enumerate(by_class):
        shuffled = members.take(rng.permutation(counts[i]), mode="clip")
        train.extend(shuffled[: n_i[i]])
        val.extend(shuffled[n_i[i] : n_i[i] + t_i[i]])
    return rng.permutation(train).tolist(), rng.permutation(val).tolist()
