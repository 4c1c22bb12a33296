"""The end-of-run summary: status, best and final metrics, per-class report, run dir, replay."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, VerticalScroll
from textual.content import Content
from textual.screen import Screen
from textual.widgets import Footer, Static

from tui_trainer import formatting as fmt
from tui_trainer.next_steps import replay_command, resume_command, traceback_path
from tui_trainer.runlog.events import RunFinished
from tui_trainer.runlog.pictures import MISTAKES, SAMPLES
from tui_trainer.runlog.summary import RunSummary, total_wall_seconds
from tui_trainer.runlog.time_parts import read_parts
from tui_trainer.tui.model import RunModel
from tui_trainer.tui.screens.choices import CommandsDialog
from tui_trainer.tui.widgets.eval_panel import EvalPanel
from tui_trainer.tui.widgets.state_badge import StateBadge
from tui_trainer.tui.widgets.time_bar import summary_rows

KEY_WIDTH = 10
HIDDEN_FINAL = frozenset({"epoch", "epoch_seconds"})
ROW_WIDTH = 64
"""The final metrics go on rows of at most this many characters (an 80-column screen's result
panel leaves 66 beside the keys), so a detector's many metrics do not wrap under the keys."""
PART = "train_loss_"


def final_metrics(summary: RunSummary) -> dict[str, float]:
    """The last epoch's metrics (summary.json's ``final``), numbers only."""
    final = summary.get("final") or {}
    return {k: v for k, v in final.items() if isinstance(v, (int, float))}


def _value(name: str, value: float) -> str:
    if name == "lr":
        return fmt.lr(value)
    return fmt.loss(value) if name.endswith("loss") else fmt.metric(name, value)


def packed(items: list[str], width: int = ROW_WIDTH) -> list[str]:
    """`items` joined by ` · ` into rows of at most `width` characters (an item longer than
    that has a row of its own)."""
    rows: list[str] = []
    for item in items:
        if rows and len(rows[-1]) + 3 + len(item) <= width:
            rows[-1] += f" · {item}"
        else:
            rows.append(item)
    return rows


def final_rows(summary: RunSummary) -> list[str]:
    """The last epoch's metrics as rows: train, val, then the others (LR), each packed to
    `ROW_WIDTH`; a detector's loss parts go beside its train loss, short: ``(cls 0.18, ...)``."""
    groups: dict[str, list[str]] = {}
    final = final_metrics(summary)
    loss_parts = {k.removeprefix(PART): v for k, v in final.items() if k.startswith(PART)}
    for name, value in final.items():
        if name in HIDDEN_FINAL or name.startswith(PART):
            continue
        group = name.split("_")[0] if name.startswith(("train_", "val_")) else "other"
        item = f"{fmt.metric_label(name)} {_value(name, value)}"
        if name == "train_loss" and loss_parts:
            shown = (f"{fmt.loss_part_label(k)} {fmt.loss(v)}" for k, v in loss_parts.items())
            item += f" ({', '.join(shown)})"
        groups.setdefault(group, []).append(item)
    return [row for items in groups.values() for row in packed(items)]


def result_lines(result: RunFinished, model: RunModel) -> Content:
    """The key/value lines of the result panel."""
    s = result.summary
    rows: list[tuple[str, Content | str]] = []
    epochs = f"{s.get('epochs_completed', 0)}/{model.progress.epochs or '?'} epochs"
    took, segment = total_wall_seconds(s), s.get("wall_seconds")
    speed = s.get("samples_per_second")
    parts = [str(result.status), epochs]
    if took is not None:
        resumed = isinstance(segment, (int, float)) and took - segment >= 0.05
        parts.append(f"{took:.1f} s" + (f" ({segment:.1f} s since the resume)" if resumed else ""))
    if isinstance(speed, (int, float)):
        parts.append(fmt.samples_rate(speed))
    rows.append(("status", " · ".join(parts)))
    best = s.get("best")
    best_value = best.get("value") if best else None
    if best and best_value is not None:
        name = str(best.get("metric", ""))
        rows.append(
            (
                "best",
                Content.assemble(
                    (f"{fmt.metric_label(name)} {_value(name, best_value)}", "bold $success"),
                    f" at epoch {best.get('epoch')}",
                ),
            )
        )
    for i, line in enumerate(final_rows(s)):
        rows.append(("final" if i == 0 else "", line))
    for i, row in enumerate(summary_rows(read_parts(s.get("time_breakdown")), ROW_WIDTH)):
        rows.append(("time" if i == 0 else "", row))  # where the training time went
    run_dir = s.get("run_dir") or model.run_dir
    if run_dir:
        rows.append(("run dir", str(run_dir)))
    where = {"status": result.status, **s, "run_dir": run_dir}
    resume = resume_command(where, console=True)
    if resume:
        rows.append(("extend" if result.status == "completed" else "resume", resume))
    command = replay_command(where)
    if command:
        rows.append(("replay", Content.styled(command, "bold $accent")))
    lines = [Content.assemble((key.ljust(KEY_WIDTH), "$text-muted"), value) for key, value in rows]
    return Content("\n").join(lines)


class SummaryScreen(Screen[None]):
    """Shown when a run ends; `n` starts over from setup, `b` goes back to the run view."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("n", "app.new_run", "New run"),
        Binding("b,escape", "back", "Back to run"),
        Binding("y", "copy_replay", "Copy replay"),
        Binding("e", "evaluate('best')", "Eval best"),
        Binding("E", "evaluate('last')", "Eval last", show=False),
        Binding("m", "mistakes", "Mistakes", show=False),  # ? lists it (the footer is full)
        Binding("q", "app.quit", "Quit"),
        Binding("question_mark", "app.help", "Help", key_display="?"),
    ]

    def __init__(self, result: RunFinished, model: RunModel) -> None:
        super().__init__()
        self.result = result
        self.model = model

    def compose(self) -> ComposeResult:
        """Header, result, error (if any), per-class report, footer."""
        state = "finished" if self.result.status == "completed" else self.result.status
        with Horizontal(id="summary-header"):
            yield Static(f"{self.model.preset}  ·  run summary", id="summary-title", markup=False)
            yield StateBadge(state, id="summary-state")
        with VerticalScroll(id="summary-body"):
            result = Static(result_lines(self.result, self.model), id="result", classes="panel")
            result.border_title = "Result"
            yield result
            if self.result.status == "failed":
                error = Static(
                    Content.assemble(
                        (self.result.error or "unknown error", "bold"),
                        "\n",
                        (self._where_traceback(), "$text-muted"),
                    ),
                    id="error",
                    classes="panel",
                )
                error.border_title = "Error"
                yield error
            if self.result.report.strip():
                report = Static(
                    self.result.report.rstrip(), id="report", classes="panel", markup=False
                )
                report.border_title = "Per-class report"
                yield report
            yield EvalPanel(self.result.summary.get("run_dir") or self.model.run_dir, id="eval")
        yield Footer()

    def action_back(self) -> None:
        """Back to the run screen (charts, table and log stay as they were)."""
        self.dismiss()

    def action_evaluate(self, checkpoint: str) -> None:
        """Run `tui-trainer eval` on the best or last checkpoint (in a thread worker)."""
        self.query_one(EvalPanel).evaluate(checkpoint)

    def action_mistakes(self) -> None:
        """m: the worst mistakes with the confusion heatmap: the eval's just run here (e / E),
        else the run's own from its last validation."""
        from tui_trainer.tui.screens.gallery import open_gallery

        folder = self.query_one(EvalPanel).mistakes_folder()
        run_dir = self._run_dir()
        if folder is None and run_dir:
            folder = Path(run_dir) / SAMPLES / MISTAKES
        open_gallery(self, folder, "this run")

    def _where_traceback(self) -> str:
        if not self.result.traceback:
            return "No traceback: the run stopped on this error before training."
        path = traceback_path({**self.result.summary, "run_dir": self._run_dir()})
        tail = f" and in {path}" if path is not None else ""
        return f"The full traceback is in the log (press b){tail}."

    def _run_dir(self) -> str | None:
        return self.result.summary.get("run_dir") or self.model.run_dir

    def commands(self) -> list[str]:
        """The replay command, then the resume (or extend) command when the run has one."""
        where = {"status": self.result.status, **self.result.summary, "run_dir": self._run_dir()}
        found = [replay_command(where), resume_command(where, console=True)]
        return [command for command in found if command]

    def action_copy_replay(self) -> None:
        """y: the commands in a dialog to copy by hand; the replay command also goes to the
        clipboard (OSC 52, which cannot be confirmed) and the run log."""
        commands = self.commands()
        if not commands:
            self.notify("This run has no run directory: nothing to replay.", severity="warning")
            return
        self.app.copy_to_clipboard(commands[0])
        for screen in self.app.screen_stack:
            note = getattr(screen, "note", None)
            if getattr(screen, "model", None) is self.model and callable(note):
                note(f"replay: {commands[0]}")
        self.app.push_screen(CommandsDialog("Replay and resume", commands))
