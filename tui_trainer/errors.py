"""Error types that map to the headless exit codes (see DESIGN.md)."""

from __future__ import annotations


class UserError(Exception):
    """Bad input: preset, override, path, checkpoint. Exit code 2, nothing written.

    The message is one line that names the file, the key and what was expected.
    """

    exit_code = 2


class TrainingError(Exception):
    """Training failed: non-finite loss, out of memory, data error. Exit code 1."""

    exit_code = 1
