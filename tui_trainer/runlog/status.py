"""How a run ended (or that it has not): one name for every front end.

`summary.json`'s `status` is one of the ended values; a live run's control socket reports one of
the live ones (`BUSY` when it has too many clients to answer more); a run with neither (its
process was killed, the machine lost power) `DIED`.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import Enum
from typing import Any


class Status(str, Enum):
    """A run's state as `runs`, the browser, `compare` and `watch` name it.

    A `str` whose text is its value (`StrEnum` is Python 3.11+; the package supports 3.10)."""

    COMPLETED = "completed"
    STOPPED = "stopped"
    PRUNED = "pruned"  # a sweep's trial stopped early by its pruner (`prune` on the socket)
    INTERRUPTED = "interrupted"
    FAILED = "failed"
    RUNNING = "running"
    PAUSING = "pausing"
    PAUSED = "paused"
    STOPPING = "stopping"
    BUSY = "busy"  # live, but its socket is full: it cannot say which live state it is in
    DIED = "died"
    UNKNOWN = "unknown"

    def __str__(self) -> str:
        return self.value

    def __format__(self, spec: str) -> str:
        return format(self.value, spec)

    @property
    def live(self) -> bool:
        """A process is training it right now."""
        return self in LIVE

    @classmethod
    def parse(cls, value: object) -> Status:
        """The member named `value` (`UNKNOWN` for anything else: a newer or damaged file)."""
        try:
            return cls(str(value))
        except ValueError:
            return cls.UNKNOWN


LIVE = frozenset({Status.RUNNING, Status.PAUSING, Status.PAUSED, Status.STOPPING, Status.BUSY})
"""States a control socket reports while the run trains."""

ENDED = frozenset(
    {Status.COMPLETED, Status.STOPPED, Status.PRUNED, Status.INTERRUPTED, Status.FAILED}
)
"""States summary.json records."""


def from_summary(summary: Mapping[str, Any] | None) -> Status:
    """The status summary.json records; `DIED` without one (the process ended without writing
    it, or it is still running: ask its socket to tell the two apart)."""
    if summary is None:
        return Status.DIED
    return Status.parse(summary.get("status"))
