"""Ctrl-C on a headless run: one message, however many forked data workers share the terminal."""

from __future__ import annotations

import os
import signal
import time

import pytest

from tui_trainer.headless import signal_handlers
from tui_trainer.runlog.control import Control, StopMode


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_ctrl_c_to_the_process_group_prints_one_message(capfd: pytest.CaptureFixture) -> None:
    """Ctrl-C reaches every process of the foreground group: forked DataLoader workers inherit
    the handlers, and each printed the message (five lines with four workers)."""
    control = Control()
    with signal_handlers(control):
        children = []
        for _ in range(4):  # as DataLoader workers are forked: the handlers come along
            pid = os.fork()
            if pid == 0:  # pragma: no cover (child)
                os.kill(os.getpid(), signal.SIGINT)
                time.sleep(0.2)
                os._exit(0)
            children.append(pid)
        for pid in children:
            _, status = os.waitpid(pid, 0)
            assert os.waitstatus_to_exitcode(status) == 0  # the worker ignored it
        os.kill(os.getpid(), signal.SIGINT)
    err = capfd.readouterr().err
    assert err.count("saving a checkpoint at the next step boundary") == 1
    assert control.stop_mode is StopMode.STEP
