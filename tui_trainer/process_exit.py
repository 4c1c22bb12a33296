"""Ending a `tui-trainer` process without the interpreter's teardown.

With torch loaded, Python's own shutdown (module teardown, garbage collection, C++ static
destructors) takes ≈0.8 s here after the last line is printed, every command, for nothing:
by then the run directory is written and closed. `finish_process` does what matters of that
shutdown (it waits for the threads Python would wait for, runs the atexit handlers: logging,
multiprocessing's worker clean-up, weakref finalizers, our control socket; flushes stdout and
stderr) and then leaves with `os._exit`. The entry points call it; `main(argv)` called from
code returns as usual.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import sys
import threading
from typing import NoReturn


def finish_process(code: int) -> NoReturn:
    """Join non-daemon threads, run the atexit handlers, flush, then `os._exit(code)`."""
    for thread in threading.enumerate():
        if thread is not threading.current_thread() and not thread.daemon:
            thread.join()
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(code)
