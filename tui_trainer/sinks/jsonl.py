"""An append-only JSON-lines file that is never left with half a line.

Each record goes to the file in one `write` on an O_APPEND descriptor. When a write fails
part-way (a full disk), the file is cut back to its last complete line, so readers never see a
broken record; the failure is reported to the caller, who decides what to say. A file left with a
partial last line (a writer killed mid-write) is repaired when it is opened again.
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path
from typing import Any

from tui_trainer.atomic import PRIVATE_FILE


class JsonLines:
    """Appends one JSON object per line to `path` (a new file is created 0600)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = os.open(
            path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, PRIVATE_FILE
        )
        self._size = self._repair()

    def _repair(self) -> int:
        """Drop a partial last line (no trailing newline); return the file size."""
        assert self._fd is not None
        size = os.fstat(self._fd).st_size
        if size == 0:
            return 0
        with open(self.path, "rb") as fh:
            fh.seek(max(size - 65536, 0))
            tail = fh.read()
        if tail.endswith(b"\n"):
            return size
        cut = tail.rfind(b"\n")
        keep = size - len(tail) + cut + 1 if cut >= 0 else (0 if size <= 65536 else size)
        os.ftruncate(self._fd, keep)
        return keep

    def append(self, record: dict[str, Any]) -> None:
        """Write one record; on OSError the file is cut back to whole lines and it re-raises."""
        if self._fd is None:
            raise ValueError(f"{self.path} is closed")
        data = memoryview((json.dumps(record, default=str) + "\n").encode("utf-8"))
        written = 0
        try:
            while written < len(data):
                written += os.write(self._fd, data[written:])
        except OSError:
            if written:
                with contextlib.suppress(OSError):
                    os.ftruncate(self._fd, self._size)
            raise
        self._size += written

    def close(self) -> None:
        """Close the file (idempotent)."""
        fd, self._fd = self._fd, None
        if fd is not None:
            with contextlib.suppress(OSError):
                os.fsync(fd)
            os.close(fd)
