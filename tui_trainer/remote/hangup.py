"""What a hang-up (SIGHUP: the terminal or SSH connection went away) does to a run.

One policy for both front ends, set by the config key `on_hangup`: `continue` (the default)
keeps training without a terminal, drawing nothing, and the run can be re-attached with
`tui-trainer watch`; `stop` saves a checkpoint and exits with 129, like SIGTERM does with 143.
"""

from __future__ import annotations

import signal
from typing import Any

SIGHUP = getattr(signal, "SIGHUP", None)


def keeps_training(config: Any, signal_number: int) -> bool:
    """True when `signal_number` is a hang-up and `config` says to carry on through one."""
    return (
        SIGHUP is not None
        and signal_number == SIGHUP
        and getattr(config, "on_hangup", "continue") == "continue"
    )
