"""Signals for a script run, as for the engine's headless runs (`tui_trainer.headless`).

SIGINT/SIGTERM ask for a stop at the next step boundary (status `interrupted`; the checkpoint
function saves `last.pt`; the process exits 128+N); a second SIGINT raises KeyboardInterrupt at
once. SIGHUP keeps the run going without the terminal (`watch` re-attaches). SIGUSR1 asks for a
checkpoint. Handlers are installed only from the main thread and put back by `restore`.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
from collections.abc import Callable
from typing import Any

from tui_trainer.runlog.control import Control, StopMode
from tui_trainer.terminal import detach_from_terminal


def install(control: Control) -> Callable[[], None]:
    """Route signals to `control`; returns the function that puts the previous handlers back."""
    if sys.platform == "win32" or threading.current_thread() is not threading.main_thread():
        return lambda: None
    owner = os.getpid()
    hits: dict[int, int] = {}

    def on_stop(signum: int, _frame: object) -> None:
        if os.getpid() != owner:  # a forked DataLoader worker: its parent answers
            return
        hits[signum] = hits.get(signum, 0) + 1
        if signum == signal.SIGINT and hits[signum] > 1:
            raise KeyboardInterrupt
        control.request_stop(StopMode.STEP, status="interrupted", signal=signum)
        with contextlib.suppress(OSError, ValueError):
            print(
                f"\n{signal.Signals(signum).name}: stopping at the next step boundary "
                "(checkpoint first), then exiting",
                file=sys.stderr,
                flush=True,
            )

    def on_hangup(_signum: int, _frame: object) -> None:
        if os.getpid() == owner:
            detach_from_terminal()  # carry on without it; `tui-trainer watch` re-attaches

    def on_usr1(_signum: int, _frame: object) -> None:
        if os.getpid() == owner:
            control.request_checkpoint()

    handlers: dict[int, Any] = {signal.SIGINT: on_stop, signal.SIGTERM: on_stop}
    if hasattr(signal, "SIGHUP"):
        handlers[signal.SIGHUP] = on_hangup
    if hasattr(signal, "SIGUSR1"):
        handlers[signal.SIGUSR1] = on_usr1
    previous = {sig: signal.signal(sig, handler) for sig, handler in handlers.items()}

    def restore() -> None:
        if threading.current_thread() is threading.main_thread():
            for sig, handler in previous.items():
                with contextlib.suppress(ValueError, TypeError):
                    signal.signal(sig, handler)

    return restore
