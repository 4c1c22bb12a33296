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

from tui_trainer.runlog.pictures import INDEX, MISTAKES

HINT = (
    "e: evaluate best.pt · E: evaluate last.pt (metrics, per-class report, confusion matrix)"
    " · m: the worst mistakes"
)


def evaluate_and_write(run_dir: str, checkpoint: str) -> tuple[Any, Path]:
    """Evaluate and write eval/<timestamp>/ (the thread's work); returns (result, folder)."""
    from tui_trainer.after.evaluate import evaluate_run, write_eval

    result = evaluate_run(run_dir, checkpoint)
    return result, write_eval(result)


def result_text(result: Any, folder: Path) -> str:
    """What the panel shows for a finished evaluation (the `eval` command's report)."""
    from tui_trainer.after.report import eval_text

    return f"{eval_text(result)}\n\nwritten to {folder}"


def missing_checkpoint(run_dir: str, checkpoint: str) -> str | None:
    """Why `checkpoint` (best | last) cannot be evaluated, in the summary's keys; None if it
    is there."""
    folder = Path(run_dir) / "checkpoints"
    if (folder / f"{checkpoint}.pt").is_file():
        return None
    other = "last" if checkpoint == "best" else "best"
    if (folder / f"{other}.pt").is_file():
        key = "E" if other == "last" else "e"
        hint = f"press {key} to evaluate {other}.pt"
    else:
        hint = "the run saved no checkpoint to evaluate"
    return f"no {checkpoint}.pt in {folder}: {hint}"


class EvalPanel(Static):
    """Shows a hint, then the progress and result of evaluating a run's checkpoint."""

    def __init__(self, run_dir: str | None, *, id: str | None = None) -> None:
        text = HINT if run_dir else "no run directory: nothing to evaluate"
        super().__init__(text, id=id, classes="panel", markup=False)
        self.run_dir = run_dir
        self.border_title = "Evaluate"
        self.checkpoint: str | None = None
        self.state = "idle"  # idle | running | done | failed
        self.folder: Path | None = None  # the finished evaluation's eval/<stamp>/

    def evaluate(self, checkpoint: str) -> None:
        """Start evaluating `checkpoint` (best | last) in a thread worker."""
        if not self.run_dir:
            self.notify("this run has no run directory", severity="warning")
            return
        self.checkpoint = checkpoint
        missing = missing_checkpoint(self.run_dir, checkpoint)
        if missing is not None:  # said in the console's keys, not the eval command's flags
            self._show_failure(missing)
            return
        self.state = "running"
        self.set_class(False, "-failed")
        self._show(Content.styled(f"evaluating {checkpoint}.pt on the validation split…", "italic"))
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
        outcome = event.worker.result  # evaluate_and_write's (result, folder) once it succeeded
        if event.state == WorkerState.SUCCESS and outcome is not None:
            result, folder = outcome
            self.state = "done"
            self.folder = Path(folder)
            text = result_text(result, folder)
            if self.mistakes_folder() is not None:
                text += "\nm: its worst mistakes and the confusion heatmap"
            self._show(Content(text))
        elif event.state == WorkerState.ERROR:
            self._show_failure(f"eval of {self.checkpoint}.pt failed: {event.worker.error}")

    def mistakes_folder(self) -> Path | None:
        """The finished evaluation's mistakes set (None before one, or when it kept none)."""
        if self.folder is None:
            return None
        folder = self.folder / MISTAKES
        return folder if (folder / INDEX).is_file() else None

    def _show_failure(self, text: str) -> None:
        self.state = "failed"
        self.set_class(True, "-failed")
        self._show(Content(text))

    def _show(self, content: Content) -> None:
        """Show `content` and bring the panel into view: it is the last panel of the summary,
        below the fold on a short terminal (its result appeared off-screen)."""
        self.update(content)
        self.call_after_refresh(self.scroll_visible, animate=False, top=True)
