"""Ringing the terminal the console runs in when an alert arrives (the console and `watch`).

Textual owns the terminal, so the bell and the desktop notification (`notify.ring_sequence`)
go through its driver, the way `App.bell` writes its BEL; a headless app (tests) has no
terminal to ring, and an app whose terminal hung up has no driver.
"""

from __future__ import annotations

from textual.app import App

from tui_trainer.notify import ring_sequence, should_ring
from tui_trainer.runlog.events import Alert


def ring(app: App[object], alerts: list[Alert]) -> bool:
    """Ring once for the alerts that are news (one notification, the newest's, with a count
    of the others); False when nothing was written."""
    fresh = [alert for alert in alerts if should_ring(alert)]
    driver = app._driver  # Textual's documented bell writes through it too (`App.bell`)
    if not fresh or app.is_headless or driver is None:
        return False
    driver.write(ring_sequence(fresh[-1], more=len(fresh) - 1))
    driver.flush()
    return True
