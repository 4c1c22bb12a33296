"""The Queue view's cells (`tui/queue_view.py`): pure text from jobs."""

from __future__ import annotations

import dataclasses

from support.queues import make_job

from tui_trainer.queue.store import Job
from tui_trainer.tui import queue_view as qv

JOB = make_job(
    id=7,
    preset="quickstart",
    overrides=["epochs=3", "device=cpu", "data.batch_size=64", "optim.lr=0.001"],
    out="runs",
    gpus=0,
)


def job(**changes: object) -> Job:
    return dataclasses.replace(JOB, **changes)


def test_job_text_keeps_the_last_overrides_when_cut() -> None:
    full = "quickstart epochs=3 device=cpu data.batch_size=64 optim.lr=0.001"
    assert qv.job_text(JOB, 100) == full
    assert qv.job_text(JOB, 46) == "quickstart … data.batch_size=64 optim.lr=0.001"
    assert qv.job_text(JOB, 40) == "quickstart … optim.lr=0.001"  # the swept key stays
    # not even the last override fits whole: its end (the swept value) stays
    assert qv.job_text(JOB, 24) == "quickstart … …m.lr=0.001"
    assert qv.job_text(JOB, 14) == "quickstart ep…"  # no room for any of it: cut
    assert all(len(qv.job_text(JOB, w)) <= w for w in range(1, 80))
    assert qv.job_text(job(preset="presets/mine.yaml", overrides=[]), 40) == "mine"


def test_gpu_text() -> None:
    assert qv.gpu_text(job(state="running", gpus=2, gpu_ids=[0, 3])) == "0,3"
    assert qv.gpu_text(job(state="running", gpus=0)) == "cpu"
    assert qv.gpu_text(job(gpus=2)) == "×2"  # waiting for two GPUs
    assert qv.gpu_text(job()) == "cpu"


def test_counts_scheduler_and_order() -> None:
    rows = [
        qv.JobRow(job(id=1, state="running")),
        qv.JobRow(job(id=2, state="held")),
        qv.JobRow(job(id=3, state="done")),
        qv.JobRow(job(id=4)),
    ]
    assert qv.counts_text(rows) == "4 jobs · 1 running · 1 queued · 1 held"
    assert qv.pending_index(rows, 2) == 0 and qv.pending_index(rows, 4) == 1
    assert qv.pending_index(rows, 1) is None  # a running job does not move
    assert qv.scheduler_text(qv.QueueListing(rows, scheduler=4321)) == "scheduler pid 4321"
    assert qv.scheduler_text(qv.QueueListing(rows)) == "scheduler off: queue start"
    assert qv.scheduler_text(qv.QueueListing(rows[:3])) == "scheduler off"  # nothing queued


def test_detail_says_how_it_ended_and_where() -> None:
    failed = job(
        state="failed",
        exit_code=1,
        error="training failed: loss is nan",
        attempts=2,
        sweep="lr",
        trial=3,
        run_dir="/r/quickstart/1",
    )
    assert qv.detail_text(qv.JobRow(failed)).splitlines() == [
        "job 7: quickstart epochs=3 device=cpu data.batch_size=64 optim.lr=0.001 · sweep lr "
        "trial 3 · attempt 2 (resumed) · exit 1",
        "training failed: loss is nan",
        "run dir /r/quickstart/1",
    ]
    assert qv.state_text(qv.JobRow(failed)) == "failed"
    assert qv.state_text(qv.JobRow(job(state="running"))) == "running"  # not live (yet)


def test_waiting_jobs_are_listed_before_the_ended_ones_in_start_order() -> None:
    from tui_trainer.queue.text import shown_order

    states = ["done", "queued", "failed", "running", "held", "queued", "pruned"]
    jobs = [dataclasses.replace(JOB, id=i + 1, state=s) for i, s in enumerate(states)]
    shown = shown_order(jobs)  # `jobs` is in queue order (the store's)
    assert [(j.id, j.state) for j in shown] == [
        (4, "running"), (2, "queued"), (6, "queued"), (5, "held"),
        (1, "done"), (3, "failed"), (7, "pruned"),
    ]  # fmt: skip
