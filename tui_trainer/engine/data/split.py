"""Seeded train/validation splits that refuse, in one line, what cannot be split.

Every source that holds out `data.val_split` (digits, fake, shapes, image and mask folders) goes
through `split_indices`, so the same rules hold everywhere: both sides get at least one sample,
and a stratified split (classification) keeps every class on both sides.

Which split a run uses and its sizes is said in one line made by `split_line` (the run's first
lines, config.yaml's `notes`, `tui-trainer check`): `data.val_split` or the data's own train and
validation sets (then `data.val_split` is not used, and the line says so).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from tui_trainer.errors import UserError


def split_sizes(n: int, val_split: float, what: str) -> tuple[int, int]:
    """(train, val) sizes for `n` samples; UserError when either side would be empty."""
    n_val = math.ceil(n * val_split)  # scikit-learn's rounding of test_size
    n_train = n - n_val
    if n < 2 or n_train < 1 or n_val < 1:
        lo, hi = 1 / max(n, 1), 1 - 1 / max(n, 1)
        raise UserError(
            f"data.val_split: {val_split} of {n} {what} leaves {n_train} to train on and "
            f"{n_val} to validate; "
            + (f"expected a value from {lo:.3g} to {hi:.3g}" if n >= 2 else "need at least 2")
        )
    return n_train, n_val


def split_line(train: int, val: int, what: str, source: str) -> str:
    """`split: 1,437 train / 360 val digits, by data.val_split 0.2 of 1,797 (seeded, ...)`."""
    return f"split: {train:,} train / {val:,} val {what}, by {source}"


def fraction_source(val_split: float, n: int, how: str) -> str:
    """The source part of `split_line` for a split by `data.val_split` (`how`: seeded, ...)."""
    return f"data.val_split {val_split:g} of {n:,} ({how})"


def fixed_source(sets: str) -> str:
    """The source part of `split_line` for data with its own validation set."""
    return f"{sets} (data.val_split not used)"


STRATIFIED = "seeded, stratified by class"
SEEDED = "seeded"
HELD_OUT_FIRST = "the first ones held out"


def holdout_size(n: int, val_split: float, what: str) -> int:
    """Samples held out from generated data (the first ones): >= 1, leaving >= 1 to train on."""
    n_val = max(1, round(n * val_split))
    if n_val >= n:
        raise UserError(
            f"data.val_split: {val_split} of {n} {what} leaves {n - n_val} to train on; "
            f"expected a value below {1 - 0.5 / n:.3g} (or more data.num_samples)"
        )
    return n_val


def split_indices(
    n: int,
    val_split: float,
    seed: int,
    *,
    what: str = "samples",
    labels: Sequence[int] | None = None,
    class_names: Sequence[str] | None = None,
) -> tuple[list[int], list[int]]:
    """Seeded (train, val) index lists; stratified by `labels` when given.

    A stratified split needs every class twice (once on each side) and room for every class on
    each side; anything else is a UserError that names the class or the range of val_split
    that works.
    """
    n_train, n_val = split_sizes(n, val_split, what)
    if labels is None:
        from tui_trainer.engine.data.shuffle_split import shuffle_split  # numpy: not for check

        return shuffle_split(n, n_val, seed)
    counts: dict[int, int] = {}
    for label in labels:
        counts[label] = counts.get(label, 0) + 1
    names = class_names or [str(k) for k in sorted(counts)]
    for label, count in sorted(counts.items()):
        if count < 2:
            raise UserError(
                f"data.root: class '{names[label]}' has {count} {what[:-1] if count == 1 else what}"
                "; a split needs at least 2 per class (one to train on, one to validate), or "
                "give train/ and val/ folders"
            )
    k = len(counts)
    if n_val < k or n_train < k:
        side = "validate" if n_val < k else "train on"
        raise UserError(
            f"data.val_split: {val_split} of {n} {what} leaves {min(n_val, n_train)} to {side}, "
            f"fewer than the {k} classes; expected a value from {k / n:.3g} to {1 - k / n:.3g}"
        )
    from tui_trainer.engine.data.shuffle_split import shuffle_split

    return shuffle_split(n, n_val, seed, labels)
