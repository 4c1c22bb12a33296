"""Tiny in-process runs, a recording sink, and reading what a run directory holds."""

from __future__ import annotations

import json
from pathlib import Path

from tui_trainer.config import load_config
from tui_trainer.runlog.control import Control, StopMode
from tui_trainer.runlog.events import LogMessage, StepProgress

# Small enough that a whole run takes well under a second on 2 CPU cores.
TINY = ["epochs=2", "data.batch_size=64", "device=cpu", "progress.interval=0.01"]


def only_run_dir(root: Path) -> Path:
    """The single run directory under a runs root."""
    dirs = [p for p in root.glob("*/*") if p.is_dir()]
    assert len(dirs) == 1, dirs
    return dirs[0]


def epoch_lines(run_dir: Path) -> list[dict]:
    """The `"event": "epoch"` records of metrics.jsonl."""
    lines = (run_dir / "metrics.jsonl").read_text().splitlines()
    return [r for r in map(json.loads, lines) if r["event"] == "epoch"]


def run_preset(
    out: Path,
    overrides: list[str] | tuple[str, ...] = (),
    *,
    preset: str = "quickstart",
    tiny: bool = True,
    sinks: list | None = None,
    control=None,
    resume: str | Path | None = None,
):
    """Run `preset` (shortened by TINY unless `tiny=False`) in-process under `out`.

    Returns the final event and the run directory.
    """
    from tui_trainer.runlog.control import Control
    from tui_trainer.session import execute

    config, name = load_config(preset, [*(TINY if tiny else []), *overrides, f"out={out}"])
    finished = execute(
        config, name, sinks=list(sinks or []), control=control or Control(), resume=resume
    )
    return finished, only_run_dir(out)


class Recorder:
    """A sink that keeps every event it is given."""

    def __init__(self) -> None:
        self.events: list = []

    def __call__(self, event) -> None:
        self.events.append(event)

    def of(self, kind: type) -> list:
        """The recorded events of one type, in order."""
        return [e for e in self.events if isinstance(e, kind)]

    def messages(self, level: str | None = None) -> list[str]:
        """The LogMessage texts (of one level, if given)."""
        from tui_trainer.runlog.events import LogMessage

        return [e.message for e in self.of(LogMessage) if level in (None, e.level)]


class StepLosses:
    """Records per-optimizer-step losses; optionally stops the run at a given global step."""

    def __init__(self, control: Control | None = None, stop_at: int | None = None) -> None:
        self.control, self.stop_at, self.losses, self.logs = control, stop_at, {}, []

    def __call__(self, event) -> None:
        if isinstance(event, StepProgress):
            self.losses[event.global_step] = event.loss
            if self.stop_at is not None and event.global_step == self.stop_at:
                self.control.request_stop(StopMode.STEP, status="interrupted")
        elif isinstance(event, LogMessage):
            self.logs.append(event.message)
