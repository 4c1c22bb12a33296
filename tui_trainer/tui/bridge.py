"""The sink that carries engine events from the training thread to the UI without blocking it.

The training thread appends each event to a list under a lock and, only when the UI has not been
told yet, posts one `RunUpdate` message (`post_message` is thread-safe and never waits). The UI
takes the whole batch when it is ready to draw, so any number of events between two frames cost
one wake-up and one repaint: updates coalesce and the training thread never waits on the UI.
"""

from __future__ import annotations

import threading
from typing import Protocol

from textual.message import Message

from tui_trainer.runlog.events import Event, RunFinished


class RunUpdate(Message):
    """New engine events are waiting in the bridge."""


class _Target(Protocol):
    def post_message(self, message: Message) -> bool: ...


class EventBridge:
    """A `Sink` (callable with one event) that hands events to a Textual message pump."""

    def __init__(self, target: _Target) -> None:
        self._target = target
        self._lock = threading.Lock()
        self._events: list[Event] = []
        self._notified = False
        self._finished = False

    def __call__(self, event: Event) -> None:
        """Queue `event` (training thread). Never blocks beyond a short lock."""
        with self._lock:
            self._events.append(event)
            if isinstance(event, RunFinished):
                self._finished = True
            if self._notified:
                return
            self._notified = True
        self._target.post_message(RunUpdate())

    def take(self) -> list[Event]:
        """Take every queued event (UI thread); the next event will notify the UI again."""
        with self._lock:
            events, self._events = self._events, []
            self._notified = False
        return events

    @property
    def finished(self) -> bool:
        """True once a `RunFinished` event went through the bridge."""
        return self._finished

    def finish(self, result: RunFinished) -> None:
        """Deliver `result` unless the executor already emitted its `RunFinished` event."""
        if not self._finished:
            self(result)
