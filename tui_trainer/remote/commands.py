"""The `ctl` and `watch` commands' logic (the CLI parses; this talks to runs)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tui_trainer.config.steering import SYNTAX, BadChange, parse_change
from tui_trainer.errors import UserError
from tui_trainer.remote.client import request
from tui_trainer.remote.endpoint import NotLive
from tui_trainer.remote.runs import find_run_dirs, list_runs
from tui_trainer.runlog.layout import is_run_dir

CTL_COMMANDS = ("pause", "resume", "checkpoint", "stop", "prune", "status")


def cmd_ctl(run_dir: str, command: str, now: bool = False) -> int:
    """`tui-trainer ctl RUN_DIR COMMAND`: send it, print the answer; 0 ok, 2 no live run.

    COMMAND is a control command or a steering change (`lr=0.001`, `unfreeze`, ...).
    """
    if command not in CTL_COMMANDS:
        if now:
            raise UserError("ctl: --now goes with stop only")
        return _steer(run_dir, command)
    if now and command != "stop":
        raise UserError("ctl: --now goes with stop only")
    fields = {"now": True} if now else {}
    reply = _deliver(run_dir, command, **fields)
    if not reply.get("ok"):
        raise UserError(f"{run_dir}: {command}: {reply.get('error', 'refused')}")
    state = reply.get("state", "?")
    if command == "status":
        epoch = f"epoch {reply.get('epoch', '?')}/{reply.get('epochs', '?')}"
        step = f"step {reply.get('step', 0)}/{reply.get('steps', '?')}"
        pass_ = reply.get("validating")
        if isinstance(pass_, dict):  # the epoch's steps are done: its validation pass runs
            step = f"validating {pass_.get('batch', '?')}/{pass_.get('batches', '?')}"
        print(f"{run_dir}: {state}, {epoch}, {step} (pid {reply.get('pid')})")
        return 0
    what = {
        "pause": "pauses at the next step boundary",
        "resume": "carries on",
        "checkpoint": "saves a checkpoint at the next step boundary",
        "stop": "stops at the next step boundary, with a checkpoint"
        if now
        else "stops after this epoch",
        "prune": "stops after this epoch, with status pruned",
    }[command]
    print(f"{run_dir}: {command}: ok, {state} (the run {what})")
    return 0


def _deliver(run_dir: str, cmd: str, **fields: Any) -> dict[str, Any]:
    """The run's reply to one request; any failure to deliver it is bad input (exit 2) with
    its reason, never a socket error that could pass for a closed stdout."""
    try:
        return request(run_dir, cmd, **fields)
    except NotLive as exc:
        raise UserError(str(exc)) from exc
    except OSError as exc:
        raise UserError(f"{run_dir}: {cmd} not delivered: {exc.strerror or exc}") from exc


def _steer(run_dir: str, text: str) -> int:
    """`ctl RUN_DIR CHANGE`: one steering change, taken at the run's next step boundary."""
    try:
        change = parse_change(text)
    except BadChange as exc:
        shown = text if len(text) <= 60 else text[:57] + "..."
        if "=" not in text and text.strip() not in ("unfreeze", "validate"):
            raise UserError(
                f"ctl: COMMAND: expected one of {', '.join(CTL_COMMANDS)} or a change "
                f"({SYNTAX}), got {shown!r}"
            ) from None
        raise UserError(f"ctl: {shown}: {exc}") from None
    reply = _deliver(run_dir, "steer", change=change.text)
    if not reply.get("ok"):
        raise UserError(f"{run_dir}: {change.text}: refused: {reply.get('error', 'refused')}")
    if reply.get("state") == "unchanged":
        print(f"{run_dir}: {change.text}: unchanged ({reply.get('detail', 'already in force')})")
    else:
        print(f"{run_dir}: {change.text}: ok (takes effect at the next optimizer step boundary)")
    return 0


def watch_target(target: str | None) -> str:
    """The run directory `watch` opens: TARGET itself, or the newest live run under it (or
    under ./runs); a run that has ended is shown too, when named directly."""
    path = Path(target or "runs")
    if target is not None and is_run_dir(path):
        return str(path)
    if not path.is_dir():
        raise UserError(f"{path}: no such run directory")
    if not find_run_dirs(path):
        raise UserError(f"{path}: no runs there (start one with: tui-trainer run PRESET --detach)")
    live = [info for info in list_runs(path) if info.live]
    if not live:
        raise UserError(
            f"{path}: no live run (tui-trainer runs {path} lists them; watch RUN_DIR shows one)"
        )
    return live[0].run_dir
