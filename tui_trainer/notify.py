"""How an alert reaches a person at a terminal: its one line, and the bytes that ring.

Shared by the headless console (`sinks.console`) and the run screen (`tui.alerts`), so the
console and every `watch` ring the same way: a bell (BEL), then a desktop notification as
OSC 9 (iTerm2, kitty, WezTerm, Windows Terminal) and OSC 777 (`notify;TITLE;BODY`: urxvt, VTE,
foot, kitty). Inside tmux each sequence is also sent wrapped in tmux's passthrough
(`ESC P tmux; ... ESC \\`, shown when `allow-passthrough` is on); tmux itself acts on the bell.
"""

from __future__ import annotations

import os
import time

from tui_trainer.runlog.events import Alert

BEL = "\a"
TITLE = "tui-trainer"
MAX_BODY = 200
"""Characters of the alert's text a notification carries."""

RECENT = 120.0
"""Seconds an alert stays news: older ones (a watcher replaying history) ring no bell."""


def alert_line(alert: Alert) -> str:
    """`alert (spike): loss spike: ...` as the log and the console show it."""
    return f"alert ({alert.rule}): {alert.message}"


def _clean(text: str) -> str:
    """Printable text only: no escape or control character can end the sequence early."""
    return "".join(c if c.isprintable() else " " for c in text)[:MAX_BODY]


def _tmux(sequence: str) -> str:
    return "\x1bPtmux;" + sequence.replace("\x1b", "\x1b\x1b") + "\x1b\\"


def ring_sequence(alert: Alert, *, more: int = 0, tmux: bool | None = None) -> str:
    """BEL plus OSC 9 and OSC 777 notifications for `alert` (tmux-wrapped copies in tmux);
    `more` alerts arrived with it (one notification says so, rather than one each)."""
    extra = f" (+{more} more)" if more else ""
    body = _clean(alert_line(alert))[: MAX_BODY - len(extra)] + extra
    osc = [f"\x1b]9;{TITLE}: {body}{BEL}", f"\x1b]777;notify;{TITLE};{body}{BEL}"]
    if tmux if tmux is not None else bool(os.environ.get("TMUX")):
        osc += [_tmux(seq) for seq in osc]
    return BEL + "".join(osc)


def should_ring(alert: Alert, now: float | None = None) -> bool:
    """Ring for `alert`: its run asked for the bell and it is news (not a replayed old one)."""
    now = time.time() if now is None else now
    return alert.bell and now - alert.time < RECENT
