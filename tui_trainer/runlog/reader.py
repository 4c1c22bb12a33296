"""The one reader of a run directory: config.yaml, metrics.jsonl and summary.json as plain values.

Strict (`compare`: any damaged file or line is a one-line `Damaged` error, exit 2) or tolerant
(the runs browser's detail view, `watch`'s history: damaged lines are skipped and named in
`RunRecord.warnings`); whole on a small metrics.jsonl, windowed on a large one (every record but
the step lines, plus a sample of those: see `lines.scan`), so reading a week-long run costs about
what reading an hour-long one does. Every YAML goes through the bounded loader. Read-only and safe
on a live run (a last line still being written is left for the next read).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from tui_trainer.config.tasks import TASKS, monitor_mode
from tui_trainer.config.yaml_safe import RUN_FILE, load_yaml_file
from tui_trainer.errors import UserError
from tui_trainer.rundir import holder_info
from tui_trainer.runlog.check import config_problem, finite, summary_problem
from tui_trainer.runlog.layout import CONFIG, METRICS, NOT_METRICS, STEP, SUMMARY
from tui_trainer.runlog.lines import DamagedLine, scan
from tui_trainer.runlog.status import Status, from_summary
from tui_trainer.runlog.summary import RunSummary, total_wall_seconds

SUMMARY_MAX_BYTES = 16 * 1024 * 1024
"""summary.json is a few KB; a larger one is not ours."""


class Damaged(UserError):
    """A run directory's file cannot be used; `str()` is one line naming the file and why."""


def default_monitor(config: dict[str, Any]) -> tuple[str, str]:
    """The metric that picks the best epoch and its mode, as the engine chooses them from a
    run's config (`checkpoint.monitor`/`mode`, else the task's default: `config/tasks.py`)."""
    ckpt = config.get("checkpoint") or {}
    task = TASKS.get(str(config.get("task") or "classification"), TASKS["classification"])
    name = str(ckpt.get("monitor") or task.monitor)
    return name, str(ckpt.get("mode") or monitor_mode(name))


@dataclass
class RunRecord:
    """What a run directory holds, as plain values."""

    path: Path
    config: dict[str, Any]
    records: list[dict[str, Any]]  # metrics.jsonl records in order (step lines sampled if long)
    summary: RunSummary | None  # None while running, or if the process was killed
    warnings: list[str] = field(default_factory=list)  # what a tolerant read skipped
    sampled: bool = False  # step lines were sampled (a long run)
    last_line: int = 0  # complete lines of metrics.jsonl read

    @property
    def name(self) -> str:
        """`<preset>/<timestamp>`: the run's last two path parts (what a legend shows)."""
        return "/".join(self.path.resolve().parts[-2:])

    @property
    def epoch_rows(self) -> list[dict[str, Any]]:
        """The epoch lines (one per finished epoch, a resumed run's earlier ones included)."""
        return [r for r in self.records if r.get("event") == "epoch"]

    @property
    def planned_epochs(self) -> int:
        """The planned epochs as steering left them (`planned_by`: the newest record that says),
        else config.yaml's."""
        for record in reversed(self.records):
            epochs = planned_by(record)
            if epochs is not None:
                return epochs
        epochs = self.config.get("epochs")
        return epochs if isinstance(epochs, int) else 0

    @property
    def configured_epochs(self) -> int | None:
        """config.yaml's `epochs` (what the run was started with, before any steering)."""
        epochs = self.config.get("epochs")
        return epochs if isinstance(epochs, int) and not isinstance(epochs, bool) else None

    @property
    def monitored(self) -> tuple[str, str]:
        """The metric that picks the best epoch and its mode, as the engine chose them."""
        name, mode = default_monitor(self.config)
        best = self.summary.get("best") if self.summary else None
        if best and best.get("metric") and best["metric"] != name:
            name, mode = str(best["metric"]), monitor_mode(str(best["metric"]))
        return name, mode

    @property
    def status(self) -> Status:
        """The summary's status; without one, `RUNNING` while a process holds the run, else
        `DIED`."""
        status = from_summary(self.summary)
        if status is Status.DIED and holder_info(self.path) is not None:
            return Status.RUNNING
        return status

    @property
    def started(self) -> float | None:
        """When the run first started (epoch seconds)."""
        first = next((r for r in self.records if r.get("event") == "started"), None)
        value = first.get("time") if first else None
        return float(value) if finite(value) else None

    @property
    def report(self) -> str:
        """The per-class report of the last `finished` record ('' without one)."""
        finished = [r for r in self.records if r.get("event") == "finished"]
        return str(finished[-1].get("report") or "") if finished else ""

    def best(self) -> tuple[str, float | None, int | None]:
        """(metric, value, epoch) of the best epoch: the summary's, else from the epoch lines."""
        name, mode = self.monitored
        best = self.summary.get("best") if self.summary else None
        value = best.get("value") if best else None
        if best and value is not None:
            return name, float(value), best.get("epoch")
        rows = [r for r in self.epoch_rows if finite(r.get(name))]
        if not rows:
            return name, None, None
        pick = (min if mode == "min" else max)(rows, key=lambda r: r[name])
        return name, float(pick[name]), pick.get("epoch")

    def final(self) -> dict[str, float]:
        """The last epoch's metrics (train and validation)."""
        rows = self.epoch_rows
        if not rows:
            return {}
        return {k: float(v) for k, v in rows[-1].items() if k not in NOT_METRICS and finite(v)}

    def samples_per_second(self) -> float | None:
        """Training throughput: the summary's, else the last progress line's."""
        value = self.summary.get("samples_per_second") if self.summary else None
        if finite(value):
            return float(value)
        steps = [r for r in self.records if r.get("event") == STEP and _train_step(r)]
        last = steps[-1].get("samples_per_second") if steps else None
        return float(last) if finite(last) else None

    def wall_seconds(self) -> float | None:
        """How long the run took, every segment of a resumed run included (the summary's)."""
        return total_wall_seconds(self.summary)


def planned_by(record: dict[str, Any]) -> int | None:
    """The run's planned length (epochs) a metrics.jsonl record states, or None: the `epochs`
    of a started, step or epoch record, the `new` value of an `epochs` steer. Every reader
    (`RunRecord.planned_epochs`, `glance`) asks this, newest record first, so `runs`, the
    browser and `compare` agree on a steered run's length."""
    if record.get("event") == "steer" and record.get("what") == "epochs":
        epochs = record.get("new")
    else:
        epochs = record.get("epochs")
    if isinstance(epochs, int) and not isinstance(epochs, bool) and epochs > 0:
        return epochs
    return None


def read_config(run_dir: Path) -> dict[str, Any]:
    """config.yaml through the bounded loader (run-file bounds); `Damaged` if it is missing,
    not YAML, or not a config (e.g. `epochs: two`)."""
    path = run_dir / CONFIG
    if not path.is_file():
        raise Damaged(f"{run_dir}: not a run directory (no {CONFIG})")
    try:
        data = load_yaml_file(path, limits=RUN_FILE).data
    except UserError as exc:
        raise Damaged(str(exc)) from None
    problem = config_problem(data)
    if problem is not None:
        raise Damaged(f"{path}: {problem}")
    return data


def read_summary(run_dir: Path) -> RunSummary | None:
    """summary.json (None when there is none); `Damaged` if it is not a summary."""
    path = run_dir / SUMMARY
    try:
        with path.open("rb") as fh:
            raw = fh.read(SUMMARY_MAX_BYTES + 1)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise Damaged(f"{path}: cannot be read ({exc.strerror or type(exc).__name__})") from None
    if len(raw) > SUMMARY_MAX_BYTES:
        raise Damaged(f"{path}: larger than {SUMMARY_MAX_BYTES:,} bytes; not a run's summary")
    try:
        summary = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise Damaged(f"{path}: cannot be read as JSON") from None
    problem = summary_problem(summary)
    if problem is not None:
        raise Damaged(f"{path}: {problem}")
    return cast(RunSummary, summary)


def check_run(path: str | Path) -> None:
    """What `watch` checks before it opens the run screen: config.yaml and summary.json can be
    used (`Damaged`, one line, otherwise). Damaged metrics.jsonl lines are skipped as it reads."""
    run = Path(path)
    read_config(run)
    read_summary(run)


def read_run(
    path: str | Path, *, strict: bool = True, start: int = 0, stop: int | None = None
) -> RunRecord:
    """Read one run directory (records of metrics.jsonl lines `start+1 .. stop`).

    `strict`: a missing or damaged file or line raises `Damaged` (one line). Tolerant: a
    damaged config or summary reads as empty and damaged lines are skipped, each named in
    `warnings`; only a path that is not a directory raises.
    """
    run = Path(path)
    if not run.is_dir():
        raise Damaged(f"{run}: not a run directory (no such directory)")
    warnings: list[str] = []
    config = _tolerated(read_config, run, {}, strict, warnings)
    summary = _tolerated(read_summary, run, None, strict, warnings)
    metrics = run / METRICS
    try:
        lines = scan(metrics, start=start, stop=stop, strict=strict)
    except FileNotFoundError:
        if strict:
            raise Damaged(f"{run}: not a run directory (no {METRICS})") from None
        return RunRecord(run, config, [], summary, [*warnings, f"{metrics}: missing"])
    except DamagedLine as exc:
        raise Damaged(f"{metrics}: {exc}") from None
    except OSError as exc:
        if strict:
            raise Damaged(f"{metrics}: cannot be read ({exc.strerror})") from None
        return RunRecord(run, config, [], summary, [*warnings, f"{metrics}: {exc.strerror}"])
    warnings += [f"{metrics}: {why}" for why in lines.damaged]
    for record in lines.records:
        del record["seq"]  # the line number is for followers of a live run (`lines.scan`)
    return RunRecord(run, config, lines.records, summary, warnings, lines.sampled, lines.last_line)


def _tolerated(read: Any, run: Path, empty: Any, strict: bool, warnings: list[str]) -> Any:
    try:
        return read(run)
    except Damaged as exc:
        if strict:
            raise
        warnings.append(str(exc))
        return empty


def read_runs(paths: list[str]) -> list[RunRecord]:
    """Read the runs to compare (strictly): at least two, each a run directory."""
    if len(paths) < 2:
        raise UserError(f"compare: needs at least two run directories, got {len(paths)}")
    return [read_run(p) for p in paths]


def _train_step(record: dict[str, Any]) -> bool:
    """A training step line (older runs' lines carry `"phase"`; only "train" ones count)."""
    return record.get("phase", "train") == "train"


def read_records(run_dir: Path, start: int = 0, stop: int | None = None) -> list[dict[str, Any]]:
    """metrics.jsonl records of lines `start+1 .. stop`, each with `"seq"` (its line number);
    damaged lines skipped, a missing file empty (what a watcher replays and then follows)."""
    try:
        return scan(Path(run_dir) / METRICS, start=start, stop=stop).records
    except OSError:
        return []
