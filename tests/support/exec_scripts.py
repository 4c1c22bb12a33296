"""Scripts for `tui-trainer exec` tests, written into a test's folder (`write_script`)."""

from __future__ import annotations

from pathlib import Path

API_SCRIPT = """\
import sys, time
import tui_trainer

run = tui_trainer.init(name="tiny", config={{"lr": 0.1}})
print("run dir", run.run_dir, flush=True)
for epoch in run.epochs({epochs}):
    for i in run.iterate(range({steps})):
        time.sleep({step_s})
        run.log(loss=1.0 / (1 + i + {steps} * epoch))
    print(f"epoch {{epoch}} done", flush=True)
    run.log_epoch(val_loss=1.0 / (epoch + 1))
run.finish()
print("bye", flush=True)
"""

PRINT_SCRIPT = """\
import os, sys, time
print("hello from the script", flush=True)
print("to stderr", file=sys.stderr, flush=True)
time.sleep({sleep_s})
sys.exit({code})
"""


def write_script(folder: Path, name: str, text: str, **values: object) -> Path:
    """`text` with `values` filled in, written as `folder/name`; returns its path."""
    path = folder / name
    path.write_text(text.format(**values))
    return path
