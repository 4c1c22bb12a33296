"""Admission: which queued jobs start now, on which GPUs (a pure function)."""

from __future__ import annotations

from dataclasses import replace

from hypothesis import given, settings
from hypothesis import strategies as st
from support.queues import make_job

from tui_trainer.queue.admission import GpuState, Refusal, Start, admit, expected_memory_mb
from tui_trainer.queue.store import HELD, QUEUED, RUNNING, Job

GIB = 1024.0


def job(id_: int, *, state: str = QUEUED, gpus: int = 1, per_gpu: int = 1, **kw: object) -> Job:
    return make_job(id=id_, state=state, gpus=gpus, per_gpu=per_gpu, position=float(id_), **kw)


def gpus(n: int, *, used: float = 0.0, total: float = 80 * GIB) -> list[GpuState]:
    return [GpuState(i, total, used) for i in range(n)]


def starts(decisions: list[Start | Refusal]) -> dict[int, list[int]]:
    return {d.job_id: d.gpu_ids for d in decisions if isinstance(d, Start)}


def test_one_job_per_gpu_each_on_a_different_gpu() -> None:
    queue = [job(i) for i in range(1, 5)]
    assert starts(admit(queue, gpus(3))) == {1: [0], 2: [1], 3: [2]}


def test_running_jobs_keep_their_gpus() -> None:
    queue = [job(1, state=RUNNING, gpu_ids=[0]), job(2), job(3)]
    assert starts(admit(queue, gpus(2))) == {2: [1]}


def test_held_jobs_are_skipped_and_do_not_block() -> None:
    queue = [job(1, state=HELD), job(2)]
    assert starts(admit(queue, gpus(1))) == {2: [0]}


def test_two_gpu_job_waits_for_two_and_later_jobs_do_not_take_its_gpu() -> None:
    queue = [job(1, state=RUNNING, gpu_ids=[0]), job(2, gpus=2), job(3)]
    assert starts(admit(queue, gpus(2))) == {}  # GPU 1 is owed to job 2
    queue = [job(1, state=RUNNING, gpu_ids=[0]), job(2, gpus=2), job(3)]
    assert starts(admit(queue, gpus(3))) == {2: [1, 2]}
    assert starts(admit([job(2, gpus=2), job(3)], gpus(3))) == {2: [0, 1], 3: [2]}


def test_more_gpus_than_the_machine_has_is_refused() -> None:
    decisions = admit([job(1, gpus=4), job(2)], gpus(2))
    assert decisions[0] == Refusal(1, "needs 4 GPU(s) and this machine has 2")
    assert starts(decisions) == {2: [0]}
    assert admit([job(1)], []) == []  # NVML sees no GPU now: GPU jobs wait


def test_cpu_jobs_use_cpu_slots_with_or_without_gpus() -> None:
    queue = [job(i, gpus=0) for i in range(1, 4)]
    assert starts(admit(queue, [])) == {1: []}
    assert starts(admit(queue, gpus(2), cpu_slots=2)) == {1: [], 2: []}
    running = [job(9, state=RUNNING, gpus=0), *queue]
    assert starts(admit(running, [], cpu_slots=2)) == {1: []}


def test_lost_and_foreign_gpus_are_not_used() -> None:
    board = [GpuState(0, 80 * GIB, 0, lost=True), GpuState(1, 80 * GIB, 0, foreign=True)]
    board.append(GpuState(2, 80 * GIB, 0))
    assert starts(admit([job(1), job(2)], board)) == {1: [2]}


def test_per_gpu_packs_only_where_measured_memory_fits() -> None:
    measured = job(1, state=RUNNING, gpu_ids=[0], per_gpu=2, peak_mem_mb=10 * GIB)
    new = job(2, per_gpu=2)
    # one GPU, 20 GiB used of 80: the same preset measured 10 GiB -> fits
    assert starts(admit([measured, new], gpus(1, used=20 * GIB))) == {2: [0]}
    # not enough free memory
    assert starts(admit([measured, new], gpus(1, used=75 * GIB))) == {}
    # the running job not measured yet: never packed on a guess (free memory alone)
    unmeasured = replace(measured, peak_mem_mb=None)
    assert starts(admit([unmeasured, new], gpus(1, used=1 * GIB))) == {}
    # either job allows one per GPU only
    assert starts(admit([replace(measured, per_gpu=1), new], gpus(1, used=20 * GIB))) == {}
    assert starts(admit([measured, replace(new, per_gpu=1)], gpus(1, used=20 * GIB))) == {}
    # up to N: a third job does not join two
    third = job(3, state=RUNNING, gpu_ids=[0], per_gpu=2, peak_mem_mb=10 * GIB)
    assert starts(admit([measured, third, new], gpus(1, used=20 * GIB))) == {}


def test_free_gpus_are_used_before_packing() -> None:
    measured = job(1, state=RUNNING, gpu_ids=[0], per_gpu=2, peak_mem_mb=10 * GIB)
    assert starts(admit([measured, job(2, per_gpu=2)], gpus(2, used=20 * GIB))) == {2: [1]}


def test_two_new_jobs_do_not_pack_onto_each_other_before_either_is_measured() -> None:
    queue = [job(1, per_gpu=4), job(2, per_gpu=4)]
    assert starts(admit(queue, gpus(1))) == {1: [0]}


def test_expected_memory_prefers_own_then_same_config_then_same_preset() -> None:
    other = job(5, state="done", preset="p", overrides=["a=1"], peak_mem_mb=3.0)
    same = job(6, state="done", preset="p", overrides=["a=2"], peak_mem_mb=2.0)
    new = job(7, overrides=["a=2"])
    assert expected_memory_mb(new, [other, same]) == 2.0
    assert expected_memory_mb(replace(new, overrides=["a=3"]), [other, same]) == 3.0
    assert expected_memory_mb(replace(new, peak_mem_mb=1.0), [other, same]) == 1.0
    assert expected_memory_mb(replace(new, preset="q"), [other, same]) is None


@settings(max_examples=200, deadline=None)
@given(
    n_gpus=st.integers(0, 4),
    wants=st.lists(st.tuples(st.integers(0, 3), st.integers(1, 3)), max_size=8),
    slots=st.integers(1, 3),
)
def test_no_gpu_is_given_twice_and_slots_hold(
    n_gpus: int, wants: list[tuple[int, int]], slots: int
) -> None:
    queue = [job(i + 1, gpus=g, per_gpu=p) for i, (g, p) in enumerate(wants)]
    decisions = admit(queue, gpus(n_gpus), cpu_slots=slots)
    given_out = [g for d in decisions if isinstance(d, Start) for g in d.gpu_ids]
    assert len(given_out) == len(set(given_out))  # nothing measured: one job per GPU
    for d in decisions:
        wanted = queue[d.job_id - 1].gpus
        if isinstance(d, Start):
            assert len(d.gpu_ids) == wanted
        else:
            assert wanted > n_gpus > 0
    assert sum(1 for d in decisions if isinstance(d, Start) and not d.gpu_ids) <= slots
