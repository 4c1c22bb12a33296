"""The confusion matrix text never cuts a class name (issue 22)."""

from __future__ import annotations

import pytest

from tui_trainer.engine.tasks.classification.metrics import (
    MATRIX_MAX_WIDTH,
    format_confusion_matrix,
)


@pytest.mark.parametrize(
    "names",
    [
        ["cat", "dog"],
        ["golden_retriever", "labrador"],  # columns as wide as the names
        [f"long_class_name_{i}" for i in range(10)],  # too wide: numbered columns
    ],
)
def test_every_class_name_is_shown_whole_in_its_row_and_columns_line_up(names) -> None:
    n = len(names)
    matrix = [[100 * i + j for j in range(n)] for i in range(n)]
    lines = format_confusion_matrix(matrix, names).splitlines()
    header, rows = lines[0], lines[1:]
    assert len(rows) == n
    for name, row, values in zip(names, rows, matrix, strict=True):
        assert name in row  # whole, in its row
        assert row.split()[-n:] == [str(v) for v in values]
    columns = header.split()[1:]
    assert columns == names or columns == [str(i) for i in range(n)]
    if columns == names or n <= 3:
        assert all(len(line) <= max(MATRIX_MAX_WIDTH, len(lines[0])) for line in lines)
    else:
        assert all(len(line) <= MATRIX_MAX_WIDTH for line in lines)
    assert len({len(line.rstrip()) for line in lines}) == 1  # aligned columns
