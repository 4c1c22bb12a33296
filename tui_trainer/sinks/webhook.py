"""`alerts.webhook`: each alert POSTed as JSON to a URL, from a background thread.

The sink only queues (never waits on the network); a daemon thread posts with a short timeout.
A failed post becomes one warning line (through `warn`), at most one a minute, with a count of
the ones not reported; nothing here can fail or slow the run. The body is the alert's record
plus `run_dir`, `preset` and `text` (a one-line summary: Slack's and Mattermost's incoming
webhooks show it as is).
"""

from __future__ import annotations

import contextlib
import json
import queue
import threading
import time
import urllib.request
from collections.abc import Callable
from dataclasses import asdict
from typing import Any
from urllib.parse import urlsplit

from tui_trainer.notify import alert_line
from tui_trainer.runlog.events import Alert, Event

TIMEOUT = 5.0
"""Seconds one POST may take."""

WARN_EVERY = 60.0
"""At most one failure warning per this many seconds."""

QUEUED = 64
"""Alerts waiting to be posted; more are dropped (and counted as failures)."""


class WebhookSink:
    """Posts `Alert` events to `url` (a sink; everything else is ignored)."""

    def __init__(
        self,
        url: str,
        *,
        run_dir: str,
        preset: str,
        warn: Callable[[str], None],
        timeout: float = TIMEOUT,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.url, self.run_dir, self.preset = url, run_dir, preset
        parts = urlsplit(url)
        self.host = f"{parts.scheme}://{parts.hostname}"  # a URL's path may hold a token
        self.warn, self.timeout, self.clock = warn, timeout, clock
        self._queue: queue.Queue[dict[str, Any] | None] = queue.Queue(QUEUED)
        self._thread: threading.Thread | None = None
        self._last_warning: float | None = None
        self._unreported = 0
        self.posted = 0
        self.failed = 0

    def __call__(self, event: Event) -> None:
        """Queue an alert for posting (never blocks)."""
        if not isinstance(event, Alert):
            return
        body = {
            **asdict(event),
            "event": "alert",
            "run_dir": self.run_dir,
            "preset": self.preset,
            "text": f"tui-trainer {self.preset}: {alert_line(event)} ({self.run_dir})",
        }
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="webhook", daemon=True)
            self._thread.start()
        try:
            self._queue.put_nowait(body)
        except queue.Full:
            self._failed("the queue of alerts to post is full")

    def _run(self) -> None:
        while (body := self._queue.get()) is not None:
            self._post(body)

    def _post(self, body: dict[str, Any]) -> None:
        data = json.dumps(body, default=str).encode("utf-8")
        request = urllib.request.Request(
            self.url,
            data=data,
            headers={"Content-Type": "application/json", "User-Agent": "tui-trainer"},
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as reply:
                reply.read(1024)
            self.posted += 1
        except Exception as exc:  # HTTPError, URLError, timeouts, a bad reply: one warning
            self._failed(f"{type(exc).__name__}: {exc}")

    def _failed(self, why: str) -> None:
        self.failed += 1
        now = self.clock()
        if self._last_warning is not None and now - self._last_warning < WARN_EVERY:
            self._unreported += 1
            return
        more = (
            f" ({self._unreported} more failed since the last warning)" if self._unreported else ""
        )
        self._last_warning, self._unreported = now, 0
        with contextlib.suppress(Exception):  # the warning's own path failed: nothing to do
            self.warn(f"alerts.webhook: could not post the alert to {self.host}: {why}{more}")

    def close(self, wait: float = TIMEOUT) -> None:
        """Post what is queued (for up to `wait` seconds), then end the thread."""
        thread = self._thread
        if thread is None:
            return
        try:
            self._queue.put(None, timeout=wait)
        except queue.Full:
            return
        thread.join(timeout=wait)
