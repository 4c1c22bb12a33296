"""Several processes (DDP through torchrun, gloo on CPU) train like one process with their batch.

Each torchrun launch costs a few seconds of interpreter start-up per process, so the launches
are few (five, marked slow) and the 2-process reference run is a module-scoped fixture.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from support.ddp import assert_same_curve, curve, ddp_env
from support.procs import kill_group, spawn_group
from support.runs import only_run_dir, run_preset

from tui_trainer.config import load_config
from tui_trainer.engine.data.tensor_loader import BatchTransform, TensorLoader
from tui_trainer.engine.distributed import DistContext, shard_indices
from tui_trainer.errors import UserError
from tui_trainer.launch import torchrun_command
from tui_trainer.runlog.control import Control
from tui_trainer.session import execute

ROOT = Path(__file__).resolve().parents[2]
# 2 epochs of quickstart with a periodic checkpoint after epoch 1.
SMALL = ["epochs=2", "device=cpu", "progress.interval=0.5", "checkpoint.every_epochs=1"]
BN = ["model.name=support.tinymodels:TinyBN", "model.kwargs={}", "sync_bn=true", "epochs=1"]


def _env() -> dict[str, str]:
    return ddp_env()


def torchrun(args: list[str], nproc: int = 2) -> subprocess.CompletedProcess[str]:
    """`python -m torch.distributed.run ... -m tui_trainer ARGS` from the repository root."""
    cmd = torchrun_command(nproc, args)
    return subprocess.run(cmd, cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=300)


def single(out: Path, overrides: list[str], resume: Path | None = None) -> Path:
    """An in-process single-process run; returns its run directory."""
    finished, run_dir = run_preset(out, overrides, tiny=False, resume=resume)
    assert finished.status == "completed", finished.error
    return run_dir


@pytest.fixture(scope="module")
def ddp_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 2-process run of the shortened quickstart: 16 per process, accumulate 2 (64 in all)."""
    out = tmp_path_factory.mktemp("ddp")
    args = ["run", "quickstart", *SMALL, "data.batch_size=16", "accumulate=2", f"--out={out}"]
    args.append("checkpoint.every_steps=30")  # mid-epoch 2 (23 optimizer steps an epoch)
    proc = torchrun(args)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "effective batch 64" in proc.stdout
    assert proc.stdout.count("run completed") == 1  # rank 1 stays quiet
    return only_run_dir(out)


# -- pure logic ---------------------------------------------------------------------------------
def test_shards_interleave_into_the_big_batches():
    order = torch.randperm(11, generator=torch.Generator().manual_seed(0))
    shards = [shard_indices(order, r, 2, pad=True) for r in range(2)]
    assert [len(s) for s in shards] == [6, 6]  # padded with the first sample again
    assert torch.equal(torch.stack(shards, 1).flatten()[:11], order)
    val = [shard_indices(order, r, 3, pad=False) for r in range(3)]
    assert sorted(torch.cat(val).tolist()) == list(range(11))  # nothing counted twice


def test_a_sharded_loader_resumes_mid_epoch_exactly():
    x, y = torch.arange(53.0).view(53, 1, 1, 1), torch.arange(53)
    t = BatchTransform((0.0,), (1.0,), 1.0, None, 1)
    loader = TensorLoader(x, y, t, 4, shuffle=True, seed=3, hflip=True).shard(1, 2, pad=True)
    loader.set_epoch(5)
    whole = [b[1] for b in loader.iterate(0)]
    tail = [b[1] for b in loader.iterate(3)]
    assert loader.batch_sizes() == [4] * 6 + [3] and len(whole) == 7
    assert all(torch.equal(a, b) for a, b in zip(whole[3:], tail, strict=True))


def test_image_folders_shard_the_same_way():
    from tui_trainer.engine.data.imagefolder import EpochSampler

    sampler = EpochSampler(11, seed=4, shuffle=True)
    sampler.epoch = 2
    whole = list(sampler)
    parts = []
    for rank in range(2):
        sampler.rank, sampler.world_size = rank, 2
        parts.append(list(sampler))
    assert [len(p) for p in parts] == [6, 6]
    assert [i for pair in zip(*parts, strict=True) for i in pair][:11] == whole


def test_context_from_torchrun_env():
    ctx = DistContext.from_env({"RANK": "1", "WORLD_SIZE": "2", "LOCAL_RANK": "1"})
    assert (ctx.rank, ctx.world_size, ctx.enabled, ctx.is_main) == (1, 2, True, False)
    assert not DistContext.from_env({}).enabled
    assert ctx.resolve_backend("auto", torch.device("cpu")) == "gloo"
    with pytest.raises(UserError, match="nccl needs CUDA"):
        ctx.resolve_backend("nccl", torch.device("cpu"))


WORKER_END = """
import atexit, sys, threading, time
from pathlib import Path
from tui_trainer.engine import distributed
out = Path(sys.argv[1])
distributed.end_worker(5)  # no process group started here: returns
distributed._group_started = True  # as DistContext.start leaves it
atexit.register(lambda: (out / "atexit").write_text("ran"))
threading.Thread(target=lambda: (time.sleep(0.2), (out / "thread").write_text("done"))).start()
print("unflushed", end="")
distributed.end_worker(7)
print("not reached")
"""


def test_a_worker_ends_after_python_shutdown_without_the_interpreter_teardown(tmp_path):
    """`end_worker`: threads joined, atexit handlers run, stdout flushed, then os._exit(code)."""
    proc = subprocess.run(
        [sys.executable, "-c", WORKER_END, str(tmp_path)],
        env=_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 7, proc.stderr
    assert proc.stdout == "unflushed"
    assert (tmp_path / "atexit").read_text() == "ran"
    assert (tmp_path / "thread").read_text() == "done"


# -- torchrun ----------------------------------------------------------------------------------
@pytest.mark.slow
def test_two_processes_match_one_with_the_doubled_batch(ddp_run, tmp_path):
    one = single(tmp_path / "one", [*SMALL, "data.batch_size=64", "accumulate=1"])
    assert_same_curve(ddp_run, one)
    a = torch.load(ddp_run / "checkpoints" / "last.pt", weights_only=True)
    b = torch.load(one / "checkpoints" / "last.pt", weights_only=True)
    assert a["model"].keys() == b["model"].keys()  # the bare module's names, no "module."
    assert a["world_size"] == 2
    config = (ddp_run / "config.yaml").read_text()
    assert "effective batch 64" in config


@pytest.mark.slow
def test_sync_batchnorm_matches_one_process(tmp_path):
    out = tmp_path / "ddp"
    proc = torchrun(["run", "quickstart", *SMALL, *BN, "data.batch_size=32", f"--out={out}"])
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "sync_bn: 1 BatchNorm layer(s) synchronised" in proc.stdout
    one = single(tmp_path / "one", [*SMALL, *BN, "data.batch_size=64"])
    assert_same_curve(only_run_dir(out), one)


@pytest.mark.slow
def test_resume_a_two_process_run_in_two_and_in_one(ddp_run, tmp_path):
    """From the 2-process run's mid-epoch checkpoint: in 2 processes (--nproc), and in 1 with
    the doubled batch (the position inside the epoch is converted: 14 micro-batches × 16 × 2
    processes = 7 batches of 64)."""
    copies = [tmp_path / n / "quickstart" / "r" for n in ("two", "one")]
    for copy in copies:
        shutil.copytree(ddp_run, copy)
        for name in ("last.pt", "best.pt", "epoch_0002.pt"):
            (copy / "checkpoints" / name).unlink(missing_ok=True)
    two, one = copies
    launcher = [sys.executable, "-m", "tui_trainer", "run", "--nproc", "2"]
    resume = ["--resume", str(two / "checkpoints" / "step_00000030.pt")]
    proc = subprocess.run(
        [*launcher, *resume], cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "resumed from" in proc.stdout
    assert_same_curve(two, ddp_run, tol=1e-5, acc_tol=1e-6)

    config, name = load_config(one / "config.yaml", ["data.batch_size=64", "accumulate=1"])
    finished = execute(
        config, name, sinks=[], control=Control(), resume=one / "checkpoints" / "step_00000030.pt"
    )
    assert finished.status == "completed"
    assert finished.summary["global_step"] == 2 * 23  # 7 more steps in epoch 2, not 28
    assert_same_curve(one, ddp_run)


@pytest.mark.slow
def test_sigterm_checkpoints_every_rank_at_one_step_and_exits_143(tmp_path):
    """SIGTERM to `run --nproc 2`: torchrun forwards it, both ranks stop at the same step, rank 0
    checkpoints (mid-epoch, or at the epoch end it was in), and the exit code is 143."""
    out = tmp_path / "runs"
    cmd = [sys.executable, "-m", "tui_trainer", "run", "quickstart", "--nproc", "2"]
    args = ["epochs=200", "device=cpu", "control_every=2", f"--out={out}"]
    proc = spawn_group(
        [*cmd, *args],
        cwd=ROOT,
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    try:
        for line in proc.stdout:  # wait for training to be under way (an event, not a delay)
            if line.startswith("epoch 1/200"):
                proc.send_signal(signal.SIGTERM)
                break
        stdout, stderr = proc.communicate(timeout=120)
    finally:
        kill_group(proc)  # the ranks too, whatever happened
    assert proc.returncode == 143, stderr[-3000:]  # rank 0's code, not torchrun's 1
    assert "run interrupted" in stdout and stdout.count("run interrupted") == 1
    run_dir = only_run_dir(out)
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["status"] == "interrupted" and summary["epochs_completed"] < 200
    state = torch.load(run_dir / "checkpoints" / "last.pt", weights_only=True)
    assert state["world_size"] == 2
    assert state["progress"]["global_step"] == summary["global_step"]


@pytest.mark.slow
def test_a_rank_that_dies_ends_the_run_with_its_name(tmp_path):
    out = tmp_path / "runs"
    model = [
        "model.name=support.tinymodels:DieOnRank1",
        "model.kwargs={}",
        "epochs=2",
        "device=cpu",
    ]
    proc = torchrun(["run", "quickstart", *model, f"--out={out}"])
    assert proc.returncode != 0
    assert "tui-trainer: rank 1 failed: RuntimeError: simulated crash on rank 1" in proc.stderr
    assert "rank" in proc.stderr and "local_rank: 1" in proc.stderr  # torchrun's summary


@pytest.mark.slow
def test_every_rank_refuses_a_run_directory_another_process_writes(ddp_run, tmp_path):
    """Rank 0 owns the directory; when it is taken, every rank exits 2 and nothing is written."""
    from tui_trainer.rundir import RunDirLock

    copy = tmp_path / "quickstart" / "r"
    shutil.copytree(ddp_run, copy)
    before = {p: p.read_bytes() for p in copy.rglob("*") if p.is_file() and p.name != ".lock"}
    with RunDirLock.acquire(copy):  # this test process is the live writer
        proc = subprocess.run(
            [sys.executable, "-m", "tui_trainer", "run", "--nproc", "2", "--resume", str(copy)],
            cwd=ROOT,
            env=_env(),
            capture_output=True,
            text=True,
            timeout=300,
        )
    assert proc.returncode == 2, proc.stderr[-3000:]
    assert f"being written by pid {os.getpid()}" in proc.stderr
    assert {p: p.read_bytes() for p in before} == before


DETECT = [
    "epochs=2",
    "device=cpu",
    "progress.interval=0.5",
    "data.num_samples=80",
    "data.image_size=48",
    "data.augment.hflip=true",
    "data.augment.scale=0.2",
    "sync_bn=true",  # fcos_tiny's backbone has BatchNorm: one process sees the whole batch
]


@pytest.mark.slow
def test_a_detector_in_two_processes_matches_one_with_the_doubled_batch(tmp_path):
    """Training shards (same images, same draws), validation predictions gathered for one mAP.

    FCOS normalises its losses by the foreground points of the batch it sees, so a shard's
    gradient is not exactly half the whole batch's: the curves agree within a tolerance."""
    out = tmp_path / "ddp"
    args = ["run", "quickstart-detect", *DETECT, "data.batch_size=8", f"--out={out}"]
    proc = torchrun(args)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.count("run completed") == 1
    finished, one = run_preset(
        tmp_path / "one",
        [*DETECT, "data.batch_size=16", "sync_bn=false"],
        preset="quickstart-detect",
        tiny=False,
    )
    assert finished.status == "completed", finished.error
    two = only_run_dir(out)
    for a, b in zip(curve(two), curve(one), strict=True):
        assert a["train_loss"] == pytest.approx(b["train_loss"], rel=0.05), (a, b)
        assert a["val_loss"] == pytest.approx(b["val_loss"], rel=0.05), (a, b)
        assert a["val_map50"] == pytest.approx(b["val_map50"], abs=0.05), (a, b)
    assert torch.load(two / "checkpoints" / "last.pt", weights_only=True)["world_size"] == 2
