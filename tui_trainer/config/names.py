"""Names that become one path component (a run directory's `<preset>` folder), made safe.

A preset's file name, a run folder's name read back from disk or any other name a user
controls can hold `..`, separators, leading dots, control characters or newlines, or be longer
than a file system allows. `safe_component` is the one place that turns such a name into a
single, visible, bounded folder name, so a run can never land outside `--out` or hide itself.
"""

from __future__ import annotations

import unicodedata

MAX_COMPONENT_BYTES = 100
"""Longest component made here, in UTF-8 bytes (file systems allow 255; the run directory's
timestamp and suffix and the control socket's path need room beside it)."""


def _safe_char(ch: str) -> str:
    if ch in "/\\" or ch.isspace() or unicodedata.category(ch).startswith(("C", "Z")):
        return "_"  # separators, whitespace, control/format/unassigned characters
    return ch


def safe_component(name: str, fallback: str = "run") -> str:
    """`name` as one safe folder name: no separator, no control character, no leading dot,
    not `.` or `..`, at most MAX_COMPONENT_BYTES bytes; `fallback` when nothing is left.

    A name that is already safe is returned unchanged (`quickstart`, `my-preset_v2`).
    """
    text = "".join(_safe_char(ch) for ch in str(name))
    text = text.encode("utf-8")[:MAX_COMPONENT_BYTES].decode("utf-8", "ignore")
    text = text.lstrip(".")  # hidden, `.` or `..`
    return text or fallback


def one_line(text: str) -> str:
    """`text` safe for one comment line: control characters (newlines included) escaped."""
    return "".join(
        ch if ch == " " or not unicodedata.category(ch).startswith(("C", "Z")) else repr(ch)[1:-1]
        for ch in str(text)
    )
