"""The wire format of a run's control socket: JSON lines, UTF-8, one object per line.

Requests (client → run), each answered by one reply line `{"ok": true, ...}` or
`{"ok": false, "error": "..."}`; an optional `"id"` (string or number) is echoed back:

| request | does |
|---|---|
| `{"cmd": "status"}` | the run's state: pid, run_dir, preset, state, epoch, epochs, step, seq |
| `{"cmd": "subscribe"}` | reply with `seq` (the metrics.jsonl lines written so far), then stream |
| `{"cmd": "pause"}` / `{"cmd": "resume"}` | pause at the next step boundary / carry on |
| `{"cmd": "checkpoint"}` | save a checkpoint at the next step boundary |
| `{"cmd": "stop"}` / `{"cmd": "stop", "now": true}` | stop after this epoch / at the next step |
| `{"cmd": "prune"}` | a sweep's pruner: stop after this epoch with status `pruned` |
| `{"cmd": "steer", "change": "lr=0.001"}` | steer at the next step (or the one-line refusal) |

After `subscribe`, the run sends each event as the same object metrics.jsonl holds plus `"seq"`,
its line number there. Progress (`"event": "step"`) may be coalesced for a slow reader; all
other events are kept. A reader too slow even for that gets `{"resync": true, "seq": N}`:
lines up to N are in metrics.jsonl, read those it missed from there.

Limits: a request is one line of at most MAX_REQUEST bytes, nested at most MAX_DEPTH deep, at
most 50 a second per connection. A connection that completes no request for a while is closed.
When every place is taken (see `connection`), a new connection gets one line,
`{"ok": false, "busy": true, "state": "busy", "pid": N, "error": "too many clients ..."}`, and
is closed; a `subscribe` beyond the watchers' share is refused with "too many watchers".
"""

from __future__ import annotations

import json
from typing import Any

PROTOCOL = 1
MAX_REQUEST = 4096
"""Longest request line in bytes; a longer one is answered with an error and dropped."""
MAX_REPLY = 1 << 20
"""Longest line a client accepts from a run (a finished record with a long report fits)."""

COMMANDS = ("status", "subscribe", "pause", "resume", "checkpoint", "stop", "prune", "steer")
MAX_CHANGE = 100
"""Longest steering change text accepted (`lr=0.001` and friends are short)."""
MAX_DEPTH = 4
"""Deepest nesting of brackets a request may have (a valid one has 1: a flat object)."""


class BadRequest(ValueError):
    """A request line that is not a valid request (the message is the reply's error)."""


def encode(obj: dict[str, Any]) -> bytes:
    """One wire line."""
    return json.dumps(obj, default=str, separators=(",", ":")).encode() + b"\n"


def parse_request(line: bytes) -> dict[str, Any]:
    """Validate one request line (without its newline); raises BadRequest."""
    if line.count(b"[") + line.count(b"{") > MAX_DEPTH and nesting(line) > MAX_DEPTH:
        raise BadRequest(f"not a request: nested deeper than {MAX_DEPTH} levels")
    try:
        req = json.loads(line.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise BadRequest("not a JSON object (one per line, UTF-8)") from exc
    if not isinstance(req, dict):
        raise BadRequest("not a JSON object (one per line, UTF-8)")
    cmd = req.get("cmd")
    if cmd not in COMMANDS:
        raise BadRequest(f"cmd: expected one of {', '.join(COMMANDS)}, got {cmd!r}"[:200])
    allowed = {"cmd", "id"} | {"stop": {"now"}, "steer": {"change"}}.get(cmd, set())
    extra = sorted(set(req) - allowed)
    if extra:
        raise BadRequest(f"{extra[0]}: unknown key for {cmd}"[:200])
    if "now" in req and not isinstance(req["now"], bool):
        raise BadRequest("now: expected true or false")
    if cmd == "steer":
        change = req.get("change")
        if not isinstance(change, str) or not change.strip() or len(change) > MAX_CHANGE:
            raise BadRequest(f"change: expected a string of at most {MAX_CHANGE} characters")
    rid = req.get("id")
    if rid is not None and (isinstance(rid, bool) or not isinstance(rid, (str, int, float))):
        raise BadRequest("id: expected a string or a number")
    if isinstance(rid, str) and len(rid) > 100:
        raise BadRequest("id: at most 100 characters")
    return req


def nesting(line: bytes) -> int:
    """The deepest bracket nesting in a JSON text (brackets inside strings do not count)."""
    depth = deepest = 0
    in_string = escaped = False
    for byte in line:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:  # backslash
                escaped = True
            elif byte == 0x22:  # quote
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in (0x5B, 0x7B):  # [ {
            depth += 1
            deepest = max(deepest, depth)
        elif byte in (0x5D, 0x7D):  # ] }
            depth -= 1
    return deepest


def error_reply(message: str, rid: Any = None) -> dict[str, Any]:
    """`{"ok": false, "error": message}` (with the request's id when it had one)."""
    reply: dict[str, Any] = {"ok": False, "error": message}
    if rid is not None:
        reply["id"] = rid
    return reply
