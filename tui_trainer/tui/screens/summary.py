"""The end-of-run summary: status, best and final metrics, per-class report, run dir, replay."""

from __future__ import annotations

import shlex
from typing import Any, ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, VerticalScroll
from textual.content import Content
from textual.screen import Screen
from textual.widgets import Footer, Static

from tui_trainer import formatting as fmt
from tui_trainer.engine.events import RunFinished
from tui_trainer.tui.model import RunModel
from tui_trainer.tui.widgets.eval_panel import EvalPanel
from tui_trainer.tui.widgets.state_badge import StateBadge

KEY_WIDTH = 10
HIDDEN_FINAL = frozenset({"epoch", "epoch_seconds"})


def replay_command(summary: dict[str, Any]) -> str | None:
    """The exact command that re-runs this run headless, if the run has a directory."""
    if summary.get("replay_command"):
        return str(summary["replay_command"])
    run_dir = summary.get("run_dir")
    return f"tui-trainer replay {shlex.quote(str(run_dir))}" if run_dir else None


def final_metrics(summary: dict[str, Any]) -> dict[str, float]:
    """The last epoch's metrics (summary.json's ``final``), numbers only."""
    final = summary.get("final") or {}
    return {k: v for k, v in final.items() if isinstance(v, (int, float))}


def _value(name: str, value: float) -> str:
    if name == "lr":
        return fmt.lr(value)
    return fmt.loss(value) if name.endswith("loss") else fmt.metric(name, value)


def result_lines(result: RunFinished, model: RunModel) -> Content:
    """The key/value lines of the result panel."""
    s = result.summary
    rows: list[tuple[str, Content | str]] = []
    epochs = f"{s.get('epochs_completed', 0)}/{model.progress.epochs or '?'} epochs"
    took = s.get("wall_seconds")
    speed = s.get("samples_per_second")
    parts = [result.status, epochs]
    if isinstance(took, (int, float)):
        parts.append(f"{took:.1f} s")
    if isinstance(speed, (int, float)):
        parts.append(fmt.samples_rate(speed))
    rows.append(("status", " · ".join(parts)))
    best = s.get("best") or {}
    if best.get("value") is not None:
        name = str(best.get("metric", ""))
        rows.append(
            (
                "best",
                Content.assemble(
                    (f"{fmt.metric_label(name)} {_value(name, best['value'])}", "bold $success"),
                    f" at epoch {best.get('epoch')}",
                ),
            )
        )
    groups: dict[str, list[str]] = {}
    for name, value in final_metrics(s).items():
        if name in HIDDEN_FINAL:
            continue
        group = name.split("_")[0] if name.startswith(("train_", "val_")) else "other"
        groups.setdefault(group, []).append(f"{fmt.metric_label(name)} {_value(name, value)}")
    for i, items in enumerate(groups.values()):
        rows.append(("final" if i == 0 else "", " · ".join(items)))
    run_dir = s.get("run_dir") or model.run_dir
    if run_dir:
        rows.append(("run dir", str(run_dir)))
    command = replay_command({**s, "run_dir": run_dir})
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
                        ("The log keeps the traceback: press b to see it.", "$text-muted"),
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

    def action_copy_replay(self) -> None:
        """Copy the replay command to the clipboard (OSC 52: works over SSH in most terminals)."""
        command = replay_command({**self.result.summary, "run_dir": self.model.run_dir})
        if command:
            self.app.copy_to_clipboard(command)
            self.notify(command, title="Copied")
