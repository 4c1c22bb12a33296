"""Each warning and error reaches the log once: LogMessage is the log's one source (issue 17:
"the fp16 fallback warning appears twice")."""

from __future__ import annotations

import io
from pathlib import Path

from support.runs import TINY

from tui_trainer.config import load_config
from tui_trainer.runlog.control import Control
from tui_trainer.runlog.reader import read_records
from tui_trainer.runlog.records import from_record
from tui_trainer.session import execute
from tui_trainer.sinks.console import ConsoleSink
from tui_trainer.tui.model import RunModel

FP16 = "precision fp16 needs CUDA"


def run(tmp_path, *overrides: str) -> tuple[RunModel, str, RunModel]:
    """The live console model, the headless output and a watcher's model of one run."""
    live, out = RunModel(), io.StringIO()
    config, name = load_config("quickstart", [*TINY, "epochs=1", *overrides, f"out={tmp_path}"])
    finished = execute(config, name, sinks=[live.apply, ConsoleSink(out, tty=False)],
                       control=Control())  # fmt: skip
    run_dir = Path(finished.summary["run_dir"])
    watched = RunModel()
    for record in read_records(run_dir, 0, None):
        event = from_record(record, config.model_dump(mode="json"))
        if event is not None:
            watched.apply(event)
    return live, out.getvalue(), watched


def log_text(model: RunModel) -> list[str]:
    return [line.text for line in model.take_log()]


def test_a_fallback_warning_is_logged_once_everywhere(tmp_path) -> None:
    live, printed, watched = run(tmp_path, "device=cpu", "precision=fp16")
    for model in (live, watched):
        lines = log_text(model)
        assert sum(FP16 in line for line in lines) == 1, lines
    assert printed.count(FP16) == 1, printed


def test_a_failure_is_logged_once_with_its_traceback_after_it(tmp_path) -> None:
    live, printed, _ = run(tmp_path, "optim.lr=1e12", "scheduler.warmup_epochs=0")
    logged = live.take_log()
    lines = [line.text for line in logged if line.level != "trace"]
    assert sum("non-finite" in line for line in lines) == 1, lines
    assert lines[-1] == "run failed"  # the message itself came just before, once
    assert any(line.level == "trace" for line in logged)  # then the traceback
    assert printed.count("error: NonFiniteLoss") == 2  # the log line, and the summary block
