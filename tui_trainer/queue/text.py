"""A job in one line: what `queue ls` and the Queue view show of its preset and overrides."""

from __future__ import annotations

from pathlib import Path

from tui_trainer.queue.store import Job

SHOWN_FIRST = ("running", "queued", "held")
"""States listed before the ended jobs, in this order (each in queue order)."""


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


def shown_order(jobs: list[Job]) -> list[Job]:
    """`jobs` (in queue order) as `queue ls` and the Queue view list them: running, then queued
    and held in the order they will start, then the ended ones by id: waiting jobs never sit
    among done ones, and moving one moves it among the others that wait."""
    rank = {state: i for i, state in enumerate(SHOWN_FIRST)}
    live = sorted((j for j in jobs if j.state in rank), key=lambda j: rank[j.state])
    ended = sorted((j for j in jobs if j.state not in rank), key=lambda j: j.id)
    return live + ended
