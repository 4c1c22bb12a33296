"""Terminal text for eval, predict and export results (plain text: it is piped and logged too)."""

from __future__ import annotations

from tui_trainer.after.evaluate import EvalResult

REPORT_TITLES = {
    "classification": "per-class report",
    "segmentation": "per-class Dice/IoU",
    "detection": "per-class AP",
}


def _number(value: float) -> str:
    return f"{value:.6g}" if abs(value) < 1e-3 or abs(value) >= 1e4 else f"{value:.4f}"


def metric_line(metrics: dict[str, float]) -> str:
    """`val_loss 0.1234 · val_accuracy 0.9750`."""
    return " · ".join(f"{k} {_number(v)}" for k, v in metrics.items())


def reproduction_line(result: EvalResult) -> str | None:
    """How the result compares with the best the run recorded (None when not comparable)."""
    rec = result.recorded
    metric, value = rec.get("metric"), rec.get("value")
    if value is None or metric not in result.metrics:
        return None
    got = result.metrics[metric]
    if result.reproduced:
        return f"{metric} {got:.6g} = the run's best (epoch {rec.get('epoch')}): reproduced exactly"
    if result.own_data:
        return (
            f"{metric} {got:.6g} differs from the run's best {value:.6g} "
            f"(epoch {rec.get('epoch')}): not the best checkpoint, or another device/precision"
        )
    return f"{metric} {got:.6g} on this data; the run's best on its own split: {value:.6g}"


def eval_text(result: EvalResult) -> str:
    """The full terminal report of one evaluation."""
    data = result.info.get("data", {})
    where = data.get("root") or data.get("name")
    lines = [
        f"checkpoint  {result.checkpoint}",
        f"data        {where}: {result.samples} validation samples "
        f"({result.info.get('device')}, {result.info.get('precision')})",
        f"metrics     {metric_line(result.metrics)}",
    ]
    line = reproduction_line(result)
    if line:
        lines.append(f"            {line}")
    if result.report:
        title = REPORT_TITLES.get(result.task, "per-class report")
        lines += ["", f"{title}:", result.report.rstrip()]
    return "\n".join(lines)
