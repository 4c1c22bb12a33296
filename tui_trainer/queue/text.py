"""A job in one line: what `queue ls` and the Queue view show of its preset and overrides."""

from __future__ import annotations

from pathlib import Path

from tui_trainer.queue.store import Job


def job_text(job: Job, width: int) -> str:
    """`preset key=value ...` in `width` characters.

    Too long, the overrides at the end are kept (`preset … optim.lr=0.01`): a sweep adds the
    keys it varies last, and the leading ones are those jobs tend to share; a last override
    that does not fit alone keeps its end (`preset … …lr=0.01`), where its value is."""
    name = Path(job.preset).stem if job.preset.endswith((".yaml", ".yml")) else job.preset
    name = name or "(defaults)"
    text = " ".join([name, *job.overrides])
    if len(text) <= width:
        return text
    kept: list[str] = []
    for override in reversed(job.overrides):
        if len(" ".join([name, "…", override, *kept])) > width:
            break
        kept.insert(0, override)
    if kept:
        return " ".join([name, "…", *kept])
    room = width - len(name) - 3  # "name … " then "…" + the end of the last override
    if job.overrides and room >= 6:
        return f"{name} … …{job.overrides[-1][-(room - 1) :]}"
    return text[: max(width - 1, 0)] + "…"
