"""Keep Python's cyclic garbage collector off a run's set-up objects while it trains.

By the first step a process holds a few hundred thousand tracked objects that live as long as
the run: imported modules (torch alone brings ~300k), the model, the data, the console's
widgets. Every full collection walks all of them, 100-200 ms on the 2-core test machine, and
holds the GIL meanwhile, so training stalls whichever thread triggered it. A run triggers several
(more in the console, whose redraws allocate). `set_up_objects_frozen` moves everything alive at
the start of training into the collector's permanent generation (`gc.freeze`), so full
collections walk only what the run allocates after that; at the run's end they are handed back
(`gc.unfreeze`) and any cyclic garbage among them is collected as before. Reference counting is
unaffected: a frozen object is still freed when its last reference goes. Forked loader workers
also copy fewer pages (the collector no longer writes to the frozen objects' headers).
"""

from __future__ import annotations

import contextlib
import gc
import threading
from collections.abc import Iterator

_lock = threading.Lock()
_depth = 0  # runs training in this process now (the first freezes, the last unfreezes)
_paused = False  # the collector is off until the first training starts (a headless start-up)


@contextlib.contextmanager
def collector_paused_until_training() -> Iterator[None]:
    """Switch the cyclic collector off for a headless run's start-up: importing torch and
    building the data and model trigger several full collections (≈0.3 s on the 2-core test
    machine) that free almost nothing. It comes back on when training starts (with the
    set-up objects frozen, see `set_up_objects_frozen`), or when the block ends, however it
    ends, so a run that fails before its first step leaves the collector as it found it."""
    global _paused
    with _lock:
        pause = gc.isenabled() and not _paused
        if pause:
            gc.disable()
            _paused = True
    try:
        yield
    finally:
        if pause:
            _resume_collector()


def _resume_collector() -> None:
    global _paused
    with _lock:
        if _paused:
            _paused = False
            gc.enable()


@contextlib.contextmanager
def set_up_objects_frozen() -> Iterator[None]:
    """While the block runs, full collections skip every object alive when it began."""
    global _depth
    with _lock:
        _depth += 1
        if _depth == 1:
            gc.freeze()
    _resume_collector()  # after a paused start-up: on again, with all it built frozen
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0:
                gc.unfreeze()
