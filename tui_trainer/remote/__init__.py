"""Runs that outlive their terminal: every run serves its events and accepts control locally.

- `endpoint`: where a run's Unix socket lives (an owner-only directory, a pointer in the run
  directory), connecting to it, recognising and cleaning stale ones.
- `protocol`: the JSON-lines wire format (events are metrics.jsonl records; commands get replies).
- `server`: `RunServer`, one more event sink plus a feeder of the run's `Control`.
- `client`: one-shot requests (`ctl`, `runs`) and the event stream a watcher reads.
- `history`: reading a run directory's records (what a watcher shows before going live).
- `runs`: the `runs` listing. `detach`: `run --detach`.

Nothing here imports Textual or the engine's trainer; the server never makes training wait.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tui_trainer.runlog.control import Control
    from tui_trainer.runlog.events import Sink


def remote_sinks(control: Control) -> list[Sink]:
    """The sinks every run's main process adds: its control socket (and, when started by
    `run --detach`, the reporter that tells the launching command where the run went)."""
    from tui_trainer.remote.detach import detached_sinks
    from tui_trainer.remote.server import RunServer

    return [RunServer(control), *detached_sinks()]
