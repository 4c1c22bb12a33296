"""The run directory writer: config.yaml, metrics.jsonl, metrics.csv and summary.json.

Layout (a contract, docs/headless.md: "The run directory"): runs/<preset>/<YYYYmmdd-HHMMSS>/ with
checkpoints/ beside these files. summary.json, metrics.csv and config.yaml are replaced
atomically, so a reader never sees half a file; metrics.jsonl is appended one whole line per
write (see `sinks.jsonl`).
"""

from __future__ import annotations

import copy
import csv
import io
import json
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import yaml

from tui_trainer.atomic import PRIVATE_DIR, atomic_write_text, describe_os_error
from tui_trainer.config.names import one_line
from tui_trainer.errors import UserError
from tui_trainer.next_steps import TRACEBACK_FILE
from tui_trainer.rundir import RunDirLock, dir_id
from tui_trainer.runlog.events import ConfigChanged, EpochEnd, Event, RunFinished, RunStarted
from tui_trainer.runlog.records import to_record
from tui_trainer.sinks.jsonl import JsonLines


def render_config(run_dir: Path, config: dict[str, Any], preset: str) -> str:
    """config.yaml's text: a header naming the preset and the replay command, then the config."""
    header = (  # one_line: a newline in a name must not end the comment (replay reads it)
        f"# tui-trainer resolved config (preset: {one_line(preset)}).\n"
        f"# Replay it with: tui-trainer replay {one_line(str(run_dir))}\n"
    )
    return header + yaml.safe_dump(config, sort_keys=False, default_flow_style=None, width=1000)


def write_config(run_dir: Path, config: dict[str, Any], preset: str) -> None:
    """Write the fully resolved config that `replay` runs as is (atomically)."""
    atomic_write_text(run_dir / "config.yaml", render_config(run_dir, config, preset))


Key = tuple[str, ...]


def flatten(config: dict[str, Any], prefix: Key = ()) -> dict[Key, Any]:
    """{("optim", "lr"): 0.1, ...}: the leaves of a nested config."""
    out: dict[Key, Any] = {}
    for key, value in config.items():
        if isinstance(value, dict) and value:
            out.update(flatten(value, (*prefix, str(key))))
        else:
            leaf: Key = (*prefix, str(key))
            out[leaf] = value
    return out


def config_changes(before: dict[str, Any], after: dict[str, Any]) -> dict[Key, Any]:
    """Keys set in both configs with different values, mapped to their `before` value.

    Keys only one side has (a config.yaml from another version) and the growing `notes` are
    not changes a user made.
    """
    old, new = flatten(before), flatten(after)
    return {k: old[k] for k in old.keys() & new.keys() if k != ("notes",) and old[k] != new[k]}


def _with_values(config: dict[str, Any], values: dict[Key, Any]) -> dict[str, Any]:
    out = copy.deepcopy(config)
    for key, value in values.items():
        node = out
        for part in key[:-1]:
            node = node.setdefault(part, {})
        node[key[-1]] = value
    return out


def _kept(name: str, exists: bool) -> str:
    """What a failed write left of file `name` (a failed atomic write leaves the old file, if
    there was one): the truth, whether or not there was one."""
    if name == "metrics.jsonl":  # appended: the lines before stay whole
        return ""
    return " (the previous version is intact)" if exists else " (there is no earlier version)"


class RunDirWriter:
    """Subscribes to engine events and keeps the run directory's files current.

    It owns the directory's lock (`lock`, released by `close`). A write that fails (a full disk)
    is reported once through `warn` and training goes on: metrics.jsonl stays whole lines,
    summary.json, metrics.csv and config.yaml keep their previous content. A run directory that
    disappears mid-run is noticed at the next write and recreated (config.yaml, the epoch
    history, a checkpoint requested through `on_recreated`), with a warning; if it cannot be,
    `on_lost` is called and nothing more is written.

    `pending` holds config keys whose new values (a resume's overrides) config.yaml takes only
    once the run ends without failing; until then it keeps their previous values.
    """

    def __init__(
        self,
        run_dir: Path,
        preset: str,
        *,
        config: dict[str, Any] | None = None,
        lock: RunDirLock | None = None,
        warn: Callable[[str], None] | None = None,
        on_recreated: Callable[[], None] | None = None,
        on_lost: Callable[[str], None] | None = None,
        pending: dict[Key, Any] | None = None,
    ) -> None:
        self.run_dir = run_dir
        self.preset = preset
        self.config = config
        self.lock = lock
        self.pending = dict(pending or {})
        self.epochs: list[dict[str, Any]] = []
        self.epoch_records: list[dict[str, Any]] = []
        self.lost: str | None = None  # why nothing more can be written, once that happened
        self.dropped_lines = 0
        self._warn = warn or (lambda _msg: None)
        self._on_recreated = on_recreated or (lambda: None)
        self._lost_callbacks: list[Callable[[str], None]] = [on_lost] if on_lost else []
        self._failing: set[str] = set()  # files whose last write failed (warned once)
        self._dir_id = dir_id(run_dir)
        self._jsonl: JsonLines | None = JsonLines(run_dir / "metrics.jsonl")

    def warn_with(self, warn: Callable[[str], None]) -> None:
        """Where warnings go (usually a LogMessage on the run's event bus)."""
        self._warn = warn

    def when_lost(self, callback: Callable[[str], None]) -> None:
        """Also call `callback(reason)` if the run directory is lost for good."""
        self._lost_callbacks.append(callback)

    # -- writing, with failures reported instead of raised ---------------------------------------
    def _attempt(self, name: str, write: Callable[[], None]) -> bool:
        """Run one write of file `name`; report the first failure and the recovery."""
        try:
            write()
        except OSError as exc:
            if name not in self._failing:
                self._failing.add(name)
                self._warn(
                    f"{self.run_dir / name} not written: {describe_os_error(exc)}"
                    + _kept(name, (self.run_dir / name).is_file())
                    + "; training goes on"
                )
            return False
        if name in self._failing:
            self._failing.discard(name)
            extra = f" ({self.dropped_lines} line(s) dropped)" if name == "metrics.jsonl" else ""
            self._warn(f"{self.run_dir / name} written again{extra}")
        return True

    def _line(self, record: dict[str, Any]) -> None:
        if not self._check_dir() or self._jsonl is None:
            return
        jsonl = self._jsonl
        if not self._attempt("metrics.jsonl", lambda: jsonl.append(record)):
            self.dropped_lines += 1

    def _replace(self, name: str, text: str) -> None:
        if self._check_dir():
            self._attempt(name, lambda: atomic_write_text(self.run_dir / name, text))

    # -- the directory went away -----------------------------------------------------------------
    def _check_dir(self) -> bool:
        """True when the run directory is still the one this writer created or opened."""
        if self.lost is not None:
            return False
        if dir_id(self.run_dir) == self._dir_id:
            return True
        return self._recreate()

    def _recreate(self) -> bool:
        if self._jsonl is not None:
            self._jsonl.close()
            self._jsonl = None
        moved_to = self.lock.where_now() if self.lock is not None else None
        if moved_to is not None and moved_to == self.run_dir:
            moved_to = None  # replaced in place: the lock still names the old path
        try:
            # fails if another directory took its place
            self.run_dir.mkdir(mode=PRIVATE_DIR, parents=True)
            if self.lock is not None:
                self.lock.release()
                self.lock = RunDirLock.acquire(self.run_dir)
            (self.run_dir / "checkpoints").mkdir(mode=PRIVATE_DIR)
            self._dir_id = dir_id(self.run_dir)
            if self.config is not None:
                write_config(self.run_dir, self._config_to_write(), self.preset)
            self._jsonl = JsonLines(self.run_dir / "metrics.jsonl")
            for record in self.epoch_records:
                self._jsonl.append(record)
            if self.epochs:
                self._write_csv()
        except (OSError, UserError) as exc:
            why = describe_os_error(exc) if isinstance(exc, OSError) else str(exc)
            gone = f"moved to {moved_to}" if moved_to is not None else "deleted or replaced"
            self.lost = (
                f"run directory {self.run_dir} was {gone} while the run was "
                f"writing it and cannot be recreated ({why}): the run stops"
            )
            self._warn(self.lost)
            for callback in self._lost_callbacks:
                callback(self.lost)
            return False
        if moved_to is not None:
            self._warn(
                f"run directory {self.run_dir} was moved to {moved_to} while the run was writing "
                f"it: the run goes on in a new {self.run_dir} (config.yaml, the epoch history and, "
                f"at the next step, checkpoints/last.pt); {moved_to} keeps the earlier step lines "
                "and checkpoints. Stop the run if the move meant it should end"
            )
        else:
            self._warn(
                f"run directory {self.run_dir} was deleted while the run was writing it: recreated "
                "with config.yaml, the epoch history and (at the next step) checkpoints/last.pt; "
                "earlier step lines and checkpoints were deleted with it. Stop the run if it was "
                "meant to go"
            )
        self._jsonl.append(
            {
                "event": "log",
                "time": round(time.time(), 3),
                "level": "warning",
                "message": "run directory recreated after it was "
                + (f"moved to {moved_to}" if moved_to is not None else "deleted")
                + " mid-run",
            }
        )
        self._on_recreated()
        return True

    # -- events ----------------------------------------------------------------------------------
    def __call__(self, event: Event) -> None:
        """Record one event (one metrics.jsonl line, see `sinks.records`)."""
        record = to_record(event, time.time())
        if isinstance(event, RunFinished):
            self._finish(event, record)
            return
        if isinstance(event, RunStarted):
            self.config = self.config or event.config
        elif isinstance(event, ConfigChanged):
            self.config = event.config
        self._line(record)
        if isinstance(event, EpochEnd):
            self.epochs.append(event.metrics)
            self.epoch_records.append(record)
            self._write_csv()
        elif isinstance(event, ConfigChanged):
            self.write_config()

    def _finish(self, event: RunFinished, record: dict[str, Any]) -> None:
        if self.pending and event.status != "failed":
            self.pending = {}  # the resume proved itself: its overrides are kept
            self.write_config()
        elif self.pending:
            shown = ", ".join(f"{'.'.join(k)}={v}" for k, v in sorted(self.pending.items()))
            self._warn(
                f"the run failed: config.yaml keeps {shown} from before this resume "
                "(give the overrides again to retry them)"
            )
        if event.traceback and self._check_dir():  # the real one, from the failed run's thread
            text = event.traceback.rstrip() + "\n"
            if self._attempt(
                TRACEBACK_FILE, lambda: atomic_write_text(self.run_dir / TRACEBACK_FILE, text)
            ):
                event.summary["traceback"] = TRACEBACK_FILE  # every later sink sees where it is
        self._line(record)
        self.write_summary(event.summary)
        if self._jsonl is not None:
            self._jsonl.close()

    def record(self, record: dict[str, Any]) -> None:
        """Append a record of the session's own (e.g. a resume's changes) to metrics.jsonl."""
        self._line({"time": round(time.time(), 3), **record})

    def load_history(self, history: list[dict[str, Any]]) -> None:
        """Epoch rows from before a resume, so metrics.csv stays complete."""
        self.epochs = list(history)
        self.epoch_records = [{"event": "epoch", **row} for row in history]

    def _config_to_write(self) -> dict[str, Any]:
        assert self.config is not None
        return _with_values(self.config, self.pending) if self.pending else self.config

    def write_config(self) -> None:
        """Rewrite config.yaml from the current config (pending keys at their old values)."""
        if self.config is not None:
            text = render_config(self.run_dir, self._config_to_write(), self.preset)
            self._replace("config.yaml", text)

    def _write_csv(self) -> None:
        keys: list[str] = []
        for row in self.epochs:
            keys += [k for k in row if k not in keys]
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=keys)
        writer.writeheader()
        writer.writerows(self.epochs)
        self._replace("metrics.csv", buf.getvalue())

    def write_summary(self, summary: Mapping[str, object]) -> None:
        """Write summary.json (atomically): a `RunSummary`, plus what this writer dropped."""
        if self.dropped_lines:
            summary = {**summary, "metrics_lines_dropped": self.dropped_lines}
        self._replace("summary.json", json.dumps(summary, indent=2, default=str) + "\n")

    def close(self) -> None:
        """Close metrics.jsonl and release the directory's lock (idempotent)."""
        if self._jsonl is not None:
            self._jsonl.close()
            self._jsonl = None
        if self.lock is not None:
            self.lock.release()
