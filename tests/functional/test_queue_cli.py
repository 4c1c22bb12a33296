"""`tui-trainer queue ...` in this process: what it queues, lists and refuses (exit 2, one line,
nothing queued). The scheduler is marked stopped, so no background process starts here."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from support.cli import one_line_error
from support.fake_nvml import FakeGpu, FakeNvml

from tui_trainer.cli import main
from tui_trainer.queue.store import DB_ENV, FAILED, HELD, QUEUED, RUNNING, QueueStore


@pytest.fixture
def db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "state" / "queue.db"
    monkeypatch.setenv(DB_ENV, str(path))
    with QueueStore(path) as store:
        store.set_meta("scheduler", "stopped")  # `queue add` starts none
    return path


def _jobs(db: Path) -> list:
    with QueueStore(db) as store:
        return store.jobs()


def test_add_prints_the_id_and_queues_what_was_asked(
    db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["queue", "add", "quickstart", "epochs=1", "--priority", "3", "--out", "r"]) == 0
    out, err = capsys.readouterr()
    (job,) = _jobs(db)
    assert out.strip() == str(job.id)
    assert "the scheduler is stopped: tui-trainer queue start" in err
    assert (job.preset, job.overrides, job.priority, job.state) == (
        "quickstart",
        ["epochs=1"],
        3,
        QUEUED,
    )
    assert (job.out, job.cwd, job.name, job.gpus) == (
        str(tmp_path / "r"),
        str(tmp_path),
        "quickstart",
        0,
    )


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["quickstart", "epochs=-1"], "epochs"),
        (["no-such-preset"], "no-such-preset"),
        (["quickstart", "--gpus", "2"], "--gpus 2: this machine has none"),
        (["quickstart", "--per-gpu", "0"], "--per-gpu needs 1 or more"),
        ([], "which preset?"),
        (["epochs=2"], "which preset?"),
    ],
)
def test_bad_add_exits_2_and_queues_nothing(
    db: Path, capsys: pytest.CaptureFixture[str], argv: list[str], expected: str
) -> None:
    assert main(["queue", "add", *argv]) == 2
    assert expected in one_line_error(capsys)
    assert _jobs(db) == []


def test_add_gpus_default_to_one_where_there_are_gpus_and_are_checked(
    db: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    FakeNvml([FakeGpu(), FakeGpu(uuid="GPU-1")]).install(monkeypatch)
    from tui_trainer.telemetry import gpu

    monkeypatch.setattr(gpu, "_DEFAULT_SESSION", gpu.NvmlSession())  # a session over the fake
    assert main(["queue", "add", "quickstart"]) == 0
    assert main(["queue", "add", "quickstart", "device=cpu"]) == 0
    assert main(["queue", "add", "quickstart", "--gpus", "2"]) == 0
    assert [j.gpus for j in _jobs(db)] == [1, 0, 2]
    capsys.readouterr()
    assert main(["queue", "add", "quickstart", "--gpus", "3"]) == 2
    assert "--gpus 3: this machine has 2" in one_line_error(capsys)


def test_hold_release_rm_retry_and_their_refusals(
    db: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with QueueStore(db) as store:
        a = store.add("quickstart", [], out="/r")
        b = store.add("quickstart", [], out="/r")
        store.claim(b.id, run_dir="/r/quickstart/x", gpu_ids=[])
    assert main(["queue", "hold", str(a.id)]) == 0
    assert _jobs(db)[0].state == HELD
    assert main(["queue", "release", str(a.id)]) == 0
    assert main(["queue", "retry", str(a.id)]) == 2
    assert f"job {a.id} is queued: only a done, failed, stopped or pruned job" in one_line_error(
        capsys
    )
    assert main(["queue", "rm", str(b.id)]) == 2
    err = one_line_error(capsys)
    assert f"job {b.id} is running" in err and "tui-trainer ctl /r/quickstart/x stop" in err
    assert main(["queue", "hold", "x"]) == 2
    assert "'x' is not a job id" in one_line_error(capsys)
    with QueueStore(db) as store:
        store.finish(b.id, FAILED, exit_code=1, error="boom")
    assert main(["queue", "retry", str(b.id)]) == 0
    assert main(["queue", "rm", str(a.id), str(b.id)]) == 0
    assert _jobs(db) == []
    assert main(["queue", "release", "99"]) == 2
    assert "no job 99 in the queue" in one_line_error(capsys)


def test_move_and_ls(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with QueueStore(db) as store:
        a, b, c = (store.add("quickstart", [f"epochs={i}"], out="/r") for i in (1, 2, 3))
        store.claim(a.id, run_dir="/r/quickstart/a", gpu_ids=[])
    assert main(["queue", "move", str(c.id), "--to", "0"]) == 0
    assert "is now number 0 of 2 waiting" in capsys.readouterr().out
    assert main(["queue", "ls"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:3] == ["JOB", "STATE", "PRI"]
    assert lines[-1].startswith("The scheduler is not running")
    assert [line.split()[:2] for line in lines[1:-1]] == [
        [str(a.id), RUNNING],
        [str(c.id), QUEUED],
        [str(b.id), QUEUED],
    ]
    assert "/r/quickstart/a" in lines[1]
    assert main(["queue", "ls", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [j["id"] for j in listed] == [a.id, c.id, b.id]
    assert listed[1]["overrides"] == ["epochs=3"]
    assert main(["queue", "move", str(c.id)]) == 2
    assert "give one of --to N or --before JOB" in one_line_error(capsys)
    assert main(["queue", "ls", "--gpus", "1"]) == 2
    assert "queue ls: --gpus does not apply" in one_line_error(capsys)


def test_empty_queue_says_how_to_add(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["queue", "ls"]) == 0
    assert "tui-trainer queue add PRESET" in capsys.readouterr().out


def test_a_damaged_database_is_one_line_and_left_as_it_is(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "queue.db"
    path.write_bytes(b"\x00garbage" * 1000)
    monkeypatch.setenv(DB_ENV, str(path))
    for argv in (["ls"], ["add", "quickstart"]):
        assert main(["queue", *argv]) == 2
        err = one_line_error(capsys)
        assert f"{path}: not a queue database" in err and "Move it aside" in err
    assert path.read_bytes() == b"\x00garbage" * 1000
    assert sorted(p.name for p in tmp_path.iterdir()) == ["queue.db"]


def test_logs_of_a_job(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with QueueStore(db) as store:
        job = store.add("quickstart", [], out="/r")
    assert main(["queue", "logs", str(job.id)]) == 0
    assert f"job {job.id} has no output yet (queued)" in capsys.readouterr().err
    log = db.with_name("queue.db.jobs") / f"{job.id}.log"
    log.parent.mkdir()
    log.write_text("epoch 1/1 train_loss 0.5\n")
    assert main(["queue", "logs", str(job.id)]) == 0
    assert capsys.readouterr().out == "epoch 1/1 train_loss 0.5\n"


def test_logs_follow_ends_when_the_job_has_ended(
    db: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with QueueStore(db) as store:
        job = store.add("quickstart", [], out="/r")
        store.claim(job.id, run_dir="/r/quickstart/x", gpu_ids=[])
        store.finish(job.id, FAILED, exit_code=2, error="bad")
    log = db.with_name("queue.db.jobs") / f"{job.id}.log"
    log.parent.mkdir()
    log.write_text("one\ntwo\n")
    assert main(["queue", "logs", str(job.id), "-f"]) == 0
    assert capsys.readouterr().out == "one\ntwo\n"


def test_ls_of_a_queue_never_used_creates_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "not-yet" / "queue.db"
    monkeypatch.setenv(DB_ENV, str(path))
    assert main(["queue", "ls"]) == 0
    assert "The queue is empty" in capsys.readouterr().out
    assert main(["queue", "ls", "--json"]) == 0
    assert capsys.readouterr().out.strip() == "[]"
    assert not path.parent.exists()  # a look leaves no folder and no database behind
