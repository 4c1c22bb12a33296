"""Past one machine: torchrun restarts that resume, ranks from Slurm's `srun`, the time-limit
signal and its requeue with `--run-dir`, and two torchrun agents meeting through c10d.

Every test launches several interpreters (a few seconds of start-up each on 2 cores): slow.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from support.ddp import ROOT, assert_same_curve, ddp_env
from support.procs import kill_group, spawn_group
from support.runs import only_run_dir, run_preset

from tui_trainer.launch import free_port, torchrun_command
from tui_trainer.slurm import PORT_BASE, PORT_SPAN

pytestmark = pytest.mark.slow

SMALL = ["quickstart", "epochs=2", "device=cpu", "progress.interval=0.5"]
CLI = [sys.executable, "-m", "tui_trainer", "run"]
RESTARTS = ["--nproc", "2", "--max-restarts", "1"]


def _single(out: Path, overrides: list[str]) -> Path:
    """One process, in this interpreter: the reference run."""
    finished, run_dir = run_preset(out, overrides, tiny=False)
    assert finished.status == "completed", finished.error
    return run_dir


def test_a_worker_killed_under_max_restarts_resumes_and_matches_one_process(tmp_path):
    """Rank 1 is SIGKILLed at its 31st step (epoch 2) on the first attempt; torchrun starts both
    ranks again and they continue the same run directory from its last checkpoint."""
    model = ["model.name=support.tinymodels:KilledOnRank1", "model.kwargs={}"]
    ckpt = ["checkpoint.every_steps=5"]
    out = tmp_path / "ddp"
    proc = subprocess.run(
        [*CLI, *SMALL, *model, *ckpt, "data.batch_size=32", "--out", str(out), *RESTARTS],
        cwd=ROOT,
        env=ddp_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    run_dir = only_run_dir(out)  # no second run directory
    assert "restart: continuing the run in" in proc.stdout
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["status"] == "completed" and summary["restarts"] == 1
    records = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    restart = [r for r in records if r["event"] == "restart"]
    assert [(r["attempt"], Path(r["from"]).name) for r in restart] == [(1, "step_00000030.pt")]
    one = _single(tmp_path / "one", [*SMALL[1:], *model, *ckpt, "data.batch_size=64"])
    assert_same_curve(run_dir, one)


def _slurm_env(rank: int, ntasks: int, job: int) -> dict[str, str]:
    return ddp_env(
        SLURM_JOB_ID=str(job),
        SLURM_NTASKS=str(ntasks),
        SLURM_STEP_NUM_TASKS=str(ntasks),
        SLURM_PROCID=str(rank),
        SLURM_LOCALID=str(rank),
        SLURM_JOB_NODELIST="127.0.0.[1]",  # the first host of the list is MASTER_ADDR
    )


def _job_id() -> int:
    """A job id whose MASTER_PORT (PORT_BASE + id % PORT_SPAN) nobody listens on now."""
    while True:
        port = free_port()
        if PORT_BASE <= port < PORT_BASE + PORT_SPAN:
            return port - PORT_BASE + PORT_SPAN  # any id with that remainder


def test_ranks_started_by_srun_train_like_torchrun(tmp_path):
    args = [*SMALL, "epochs=1", "data.batch_size=16", "accumulate=2"]
    job = _job_id()
    run_dir = tmp_path / "srun" / "job"  # --run-dir: rank 0 decides, every rank follows
    ranks = [
        subprocess.Popen(
            [*CLI, *args, "--run-dir", str(run_dir)],
            cwd=ROOT,
            env=_slurm_env(rank, 2, job),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for rank in range(2)
    ]
    outputs = [p.communicate(timeout=300) for p in ranks]
    assert [p.returncode for p in ranks] == [0, 0], outputs[0][1][-3000:] + outputs[1][1][-3000:]
    assert "effective batch 64" in outputs[0][0] and "run completed" not in outputs[1][0]

    torchrun = tmp_path / "torchrun"
    cmd = torchrun_command(2, ["run", *args, "--out", str(torchrun)])
    proc = subprocess.run(cmd, cwd=ROOT, env=ddp_env(), capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert_same_curve(run_dir, only_run_dir(torchrun), tol=1e-6, acc_tol=1e-9)


def test_sigusr1_in_a_slurm_job_checkpoints_exits_138_and_the_same_command_finishes(tmp_path):
    """`#SBATCH --signal=USR1@90`: checkpoint, `interrupted`, exit 138, requeue guidance; the
    requeued job (the same command, `--run-dir`) finishes with an uninterrupted run's curve."""
    args = [*SMALL, "data.batch_size=64", "control_every=1"]
    run_dir = tmp_path / "job"
    command = [*CLI, *args, "--run-dir", str(run_dir)]
    env = ddp_env(SLURM_JOB_ID="4242", SLURM_STEP_NUM_TASKS="1", SLURM_PROCID="0")
    proc = spawn_group(
        command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    try:
        for line in proc.stdout:  # training under way: an event, not a delay
            if line.startswith("epoch 1/2"):
                proc.send_signal(signal.SIGUSR1)
                break
        stdout, stderr = proc.communicate(timeout=120)
    finally:
        kill_group(proc)
    assert proc.returncode == 138, stderr[-3000:]
    assert "SIGUSR1 in a Slurm job" in stderr
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["status"] == "interrupted" and summary["epochs_completed"] < 2
    assert summary["signal"] == "SIGUSR1" and summary["requeue"] is True
    assert f"rerun: tui-trainer run quickstart {' '.join(args[1:])} --run-dir {run_dir}" in stdout

    again = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "--run-dir: continuing the run in" in again.stdout
    assert json.loads((run_dir / "summary.json").read_text())["status"] == "completed"
    whole = _single(tmp_path / "whole", [*args[1:]])
    assert_same_curve(run_dir, whole, tol=1e-6, acc_tol=1e-9)


def test_two_torchrun_agents_meet_through_c10d_and_match_one_process(tmp_path):
    """Two "nodes" (torchrun agents) on this machine, one process each, a c10d rendezvous."""
    port = free_port()
    out = tmp_path / "nodes"
    args = [*SMALL, "epochs=1", "data.batch_size=32", "--out", str(out)]
    agent = [sys.executable, "-m", "torch.distributed.run", "--nnodes=2", "--nproc-per-node=1"]
    rdzv = ["--rdzv-backend=c10d", f"--rdzv-endpoint=127.0.0.1:{port}", "--rdzv-id=two"]
    agents = [
        subprocess.Popen(
            [*agent, *rdzv, "-m", "tui_trainer", "run", *args],
            cwd=ROOT,
            env=ddp_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    outputs = [a.communicate(timeout=300) for a in agents]
    assert [a.returncode for a in agents] == [0, 0], outputs[0][1][-2000:] + outputs[1][1][-2000:]
    assert sum(o.count("run completed") for o, _ in outputs) == 1  # global rank 0 only
    one = _single(tmp_path / "one", [*SMALL[1:], "epochs=1", "data.batch_size=64"])
    assert_same_curve(only_run_dir(out), one)
