"""Command-line test helpers: input files, and the CLI's one-line error."""

from __future__ import annotations

from pathlib import Path

import pytest


def write_file(path: Path, data: str | bytes) -> str:
    """Write `data` at `path` (making its folders) and return the path as a CLI argument."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, bytes):
        path.write_bytes(data)
    else:
        path.write_text(data)
    return str(path)


def one_line_error(capsys: pytest.CaptureFixture[str]) -> str:
    """The captured stderr, checked to be the CLI's one `tui-trainer: error: ` line."""
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert err.startswith("tui-trainer: error: "), err
    return err
