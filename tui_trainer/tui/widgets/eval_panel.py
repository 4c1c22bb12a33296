"""The summary screen's evaluation panel: runs `tui-trainer eval` on a checkpoint in a thread.

The evaluation is the command's own (`tui_trainer.after.evaluate`), so the panel shows what
`tui-trainer eval RUN_DIR --checkpoint best|last` prints and writes the same eval.json. It runs
in a thread worker: the screen stays responsive, and a second request replaces the first.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from textual.content import Content
from textual.widgets import Static
from textual.worker import Worker, WorkerState

HINT = "e: evaluate best.pt · E: evaluate last.pt (metrics, per-class report, confusion matrix)"


def evaluate_and_write(run_dir: str, checkpoint: str) -> tuple[Any, Path]:
    """Evaluate and write eval/<timestamp>/ (the thread's work); returns (result, folder)."""
    from tui_trainer.after.evaluate import evaluate_run, write_eval

    result = evaluate_run(run_dir, checkpoint)
    return result, write_eval(result)


def result_text(result: Any, folder: Path) -> str:
    """What the panel shows for a finished evaluation (the `eval` command's report)."""
    from tui_trainer.after.report import eval_text

    return f"{eval_text(result)}\n\nwritten to {folder}"


class EvalPanel(Static):
    """Shows a hint, then the progress and result of evaluating a run's checkpoint."""

    def __init__(self, run_dir: str | None, *, id: str | None = None) -> None:
        text = HINT if run_dir else "no run directory: nothing to evaluate"
        super().__init__(text, id=id, classes="panel", markup=False)
        self.run_dir = run_dir
        self.border_title = "Evaluate"
        self.checkpoint: str | None = None
        self.state = "idle"  # idle | running | done | failed

    def evaluate(self, checkpoint: str) -> None:
        """Start evaluating `checkpoint` (best | last) in a thread worker."""
        if not self.run_dir:
            self.notify("this run has no run directory", severity="warning")
            return
        self.checkpoint, self.state = checkpoint, "running"
        self.set_class(False, "-failed")
        self.update(
            Content.styled(f"evaluating {checkpoint}.pt on the validation split…", "italic")
        )
        self.run_worker(
            lambda: evaluate_and_write(str(self.run_dir), checkpoint),
            name=f"eval-{checkpoint}",
            group="eval",
            exclusive=True,
            thread=True,
            exit_on_error=False,
        )

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """Show the result (or the one-line error) when the worker ends."""
        if event.worker.group != "eval":
            return
        event.stop()
        if event.state == WorkerState.SUCCESS:
            result, folder = event.worker.result
            self.state = "done"
            self.update(Content(result_text(result, folder)))
        elif event.state == WorkerState.ERROR:
            self.state = "failed"
            self.set_class(True, "-failed")
            error = event.worker.error
            self.update(Content(f"eval of {self.checkpoint}.pt failed: {error}"))
