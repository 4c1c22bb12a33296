"""Where the run screen's events come from: a run in this process, or one in another process.

The run screen is one screen with two sources. `LocalRun` trains here (in the screen's thread
worker) and, like every run, serves its events on the control socket; `RemoteRun` watches a
run in another process: it replays the run directory's history (metrics.jsonl), then follows
the run's socket live. Both hand engine events to the same sink (the screen's `EventBridge`)
and offer a `control` with the same methods, so keys work the same way on both. Both read the
history the same way (`history`, through the run-record reader): a resumed run in the console
shows its earlier epochs as `watch` does.
"""

from __future__ import annotations

import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from tui_trainer.errors import UserError
from tui_trainer.remote.client import RemoteControl, Stream
from tui_trainer.remote.endpoint import NotLive
from tui_trainer.remote.server import RunServer
from tui_trainer.runlog import METRICS, Damaged, RunSummary, Status, read_config, read_summary
from tui_trainer.runlog.control import Control, StopMode
from tui_trainer.runlog.events import (
    LogMessage,
    Paused,
    Resumed,
    RunFinished,
    RunStarted,
    Sink,
)
from tui_trainer.runlog.lines import Lines, scan
from tui_trainer.runlog.records import from_record

Cancelled = Callable[[], bool]


def failed_run(message: str, trace: str | None = None) -> RunFinished:
    """A `RunFinished` for a run that could not start or crashed outside the engine's guard."""
    summary = RunSummary(status=Status.FAILED, epochs_completed=0, error=message)
    return RunFinished(Status.FAILED, summary, "", error=message, traceback=trace)


def history(
    run_dir: Path, start: int = 0, stop: int | None = None, known: tuple[int, int] = (0, 0)
) -> Lines:
    """metrics.jsonl lines `start+1 .. stop` as a run screen replays them (tolerant; a long
    run's step lines sampled), without how earlier sessions of a resumed run ended: their
    `finished` records come before the last `started` one. `known`: (line, byte offset) where
    the previous read ended, so a follower reads on from there."""
    try:
        lines = scan(run_dir / METRICS, start=start, stop=stop, known=known)
    except OSError:
        return Lines(last_line=start, end_offset=-1)  # no known position: from the top next
    starts = [i for i, r in enumerate(lines.records) if r["event"] == "started"]
    if starts:
        lines.records = [
            r for i, r in enumerate(lines.records) if r["event"] != "finished" or i > starts[-1]
        ]
    return lines


def _tolerant_config(run_dir: Path) -> dict[str, Any]:
    try:
        return read_config(run_dir)
    except Damaged:
        return {}


class _HistoryFirst:
    """The sink of a run in this process that continues a run directory (`--resume`, a
    scheduler's `--run-dir`): at its `RunStarted`, the directory's earlier records come first,
    read as `watch` reads them, so the table and plots show the whole run."""

    def __init__(self, sink: Sink) -> None:
        self.sink = sink
        self.started = False

    def __call__(self, event: Any) -> None:
        if not self.started and isinstance(event, RunStarted) and event.run_dir:
            self.started = True
            self._earlier(Path(event.run_dir), event.config)
        self.sink(event)

    def _earlier(self, run_dir: Path, config: dict[str, Any]) -> None:
        lines = history(run_dir)
        starts = [i for i, r in enumerate(lines.records) if r["event"] == "started"]
        if len(starts) < 2:  # only this session's own `started`: a fresh run
            return
        for record in lines.records[: starts[-1]]:
            event = from_record(record, config)
            if event is not None:
                self.sink(event)
        for why in lines.damaged[:1]:
            self.sink(LogMessage("warning", f"{run_dir / METRICS}: {why} (skipped)"))


class RunSource(Protocol):
    """What the run screen needs from a source."""

    remote: bool
    preset: str
    control: Any  # Control, or RemoteControl for a run elsewhere

    def run(self, sink: Sink, cancelled: Cancelled) -> RunFinished | None:
        """Deliver events to `sink` until the run ends (thread worker); the last one, if any."""
        ...

    def leave(self) -> None:
        """The screen goes away: a local run stops (with a checkpoint), a watched one goes on."""
        ...


class LocalRun:
    """Train in this process with `executor` (the engine, or a stand-in in tests)."""

    remote = False

    def __init__(self, request: Any, executor: Callable[..., RunFinished]) -> None:
        self.request = request
        self.executor = executor
        self.preset = request.preset
        self.control = Control()
        self.refusal: UserError | None = None  # why the run refused to start, if it did

    def run(self, sink: Sink, cancelled: Cancelled) -> RunFinished | None:
        """Run the executor; whatever happens, return a `RunFinished`."""
        req = self.request
        sinks: list[Sink] = [_HistoryFirst(sink), RunServer(self.control)]
        try:
            extra = {"resume": req.resume} if req.resume else {}
            return self.executor(
                req.config, req.preset, sinks=sinks, control=self.control, out=req.out, **extra
            )
        except UserError as exc:  # bad input, found before anything was written
            self.refusal = exc
            return failed_run(str(exc))
        except Exception as exc:  # execute() catches training failures; this is a safety net
            return failed_run(f"{type(exc).__name__}: {exc}", traceback.format_exc())

    def leave(self) -> None:
        """Never leave a training thread behind: the app cannot exit until it returns."""
        self.control.request_stop(StopMode.STEP, status="stopped")


class RemoteRun:
    """Watch the run in `run_dir` (another process): its history, then its live events."""

    remote = True

    def __init__(self, run_dir: str | Path) -> None:
        self.run_dir = Path(run_dir)
        self.config = _tolerant_config(self.run_dir)
        self.preset = str(self.config.get("preset") or self.run_dir.parent.name)
        self._sink: Sink | None = None
        self.control = RemoteControl(self.run_dir, self._notify)
        self._finished = False
        self._left = False
        self._position = (0, 0)  # (line, byte offset) where the last history read ended

    def _notify(self, message: str) -> None:
        if self._sink is not None:
            self._sink(LogMessage("error", message))

    def _deliver(self, sink: Sink, record: dict[str, Any]) -> None:
        event = from_record(record, self.config)
        if event is None:
            return
        if isinstance(event, Paused | Resumed):
            self.control.paused = isinstance(event, Paused)
        if isinstance(event, RunStarted):
            event = RunStarted(**{**event.__dict__, "run_dir": str(self.run_dir)})
        self._finished |= isinstance(event, RunFinished)
        sink(event)

    def _replay(self, sink: Sink, start: int, stop: int | None) -> int:
        """Deliver metrics.jsonl lines start+1..stop; return the last line number read."""
        lines = history(self.run_dir, start, stop, self._position)
        self._position = (lines.last_line, lines.end_offset)
        for record in lines.records:
            self._deliver(sink, record)
        for why in lines.damaged[:1]:
            more = f" (and {len(lines.damaged) - 1} more)" if len(lines.damaged) > 1 else ""
            sink(LogMessage("warning", f"{self.run_dir / METRICS}: {why}{more}: skipped"))
        return lines.last_line if stop is None else max(lines.last_line, stop)

    def run(self, sink: Sink, cancelled: Cancelled) -> RunFinished | None:
        """History first, then live events until the run ends or the screen leaves."""
        self._sink = sink
        gone = cancelled
        try:
            stream: Stream | None = Stream(self.run_dir)
        except NotLive as exc:
            stream, reason = None, str(exc)
        if stream is None:
            self._replay(sink, 0, None)
            return None if self._finished else self._ended_elsewhere(reason)
        self.control.paused = stream.status.get("state") == "paused"
        last = self._replay(sink, 0, int(stream.status.get("seq", 0)))
        sink(LogMessage("info", f"watching {self.run_dir} (q leaves; the run goes on)"))
        for msg in stream.messages(lambda: gone() or self._left):
            if msg.get("resync"):
                last = self._replay(sink, last, int(msg.get("seq", last)))
            elif isinstance(msg.get("event"), str):
                seq = msg.get("seq")
                if isinstance(seq, int) and seq <= last:
                    continue
                self._deliver(sink, msg)
                last = seq if isinstance(seq, int) else last
            if self._finished:
                return None
        if gone() or self._left:
            return None
        self._replay(sink, last, None)  # what the run wrote after the stream ended
        if self._finished:
            return None
        return self._ended_elsewhere("the run closed its control socket")

    def _ended_elsewhere(self, reason: str) -> RunFinished:
        """No finished record: summary.json if the run left one, else the run died."""
        try:
            summary = read_summary(self.run_dir)
        except Damaged:
            summary = None
        if summary is not None:
            status = Status.parse(summary.get("status", "interrupted"))
            return RunFinished(status, summary, "", summary.get("error"))
        message = (
            f"{reason}; no summary.json: the run's process ended without one (killed?). "
            f"Continue it with: tui-trainer run --resume {self.run_dir}"
        )
        summary = RunSummary(status=Status.DIED, run_dir=str(self.run_dir))
        return RunFinished(Status.DIED, summary, "", message)

    def leave(self) -> None:
        """Stop watching; the run goes on."""
        self._left = True
