"""Slurm's variables and node lists, torchrun restart pointers, the launcher's restart flag."""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support.cli import one_line_error

from tui_trainer import restarts
from tui_trainer.cli import main
from tui_trainer.engine.distributed import DistContext
from tui_trainer.errors import UserError
from tui_trainer.launch import run_argv, torchrun_command
from tui_trainer.next_steps import next_step_lines
from tui_trainer.slurm import BadNodeList, expand_nodelist, in_job, rank_env

SRUN = {
    "SLURM_JOB_ID": "123456",
    "SLURM_STEP_NUM_TASKS": "4",
    "SLURM_PROCID": "3",
    "SLURM_LOCALID": "1",
    "SLURM_JOB_NODELIST": "gpu[07-08]",
}


@pytest.mark.parametrize(
    "text, hosts",
    [
        ("node[01-03,7]", ["node01", "node02", "node03", "node7"]),
        ("a1,b[2-3],c", ["a1", "b2", "b3", "c"]),
        ("rack[1-2]-n[09-10]", ["rack1-n09", "rack1-n10", "rack2-n09", "rack2-n10"]),
        ("login.example.org", ["login.example.org"]),
        ("n[8-11]", ["n8", "n9", "n10", "n11"]),
    ],
)
def test_node_lists_expand_like_scontrol_show_hostnames(text, hosts):
    assert expand_nodelist(text) == hosts


@pytest.mark.parametrize("text", ["", "n[1-", "n]1[", "n[a-b]", "n[3-1]", "a,,b"])
def test_bad_node_lists_are_refused(text):
    with pytest.raises(BadNodeList):
        expand_nodelist(text)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    prefix=st.from_regex(r"[a-z][a-z0-9-]{0,6}", fullmatch=True),
    lo=st.integers(0, 200),
    count=st.integers(1, 12),
    width=st.integers(1, 4),
)
def test_a_range_expands_to_every_number_padded_like_its_lower_bound(prefix, lo, count, width):
    start = str(lo).zfill(width)
    end = str(lo + count - 1).zfill(width)
    hosts = expand_nodelist(f"{prefix}[{start}-{end}]")
    assert len(hosts) == count
    pad = len(start) if start.startswith("0") else 0
    assert hosts == [f"{prefix}{str(n).zfill(pad)}" for n in range(lo, lo + count)]
    assert expand_nodelist(",".join(hosts)) == hosts  # an explicit list stays as it is


def test_srun_variables_become_torchruns():
    derived = rank_env(SRUN)
    assert derived == {
        "RANK": "3",
        "WORLD_SIZE": "4",
        "LOCAL_RANK": "1",
        "MASTER_ADDR": "gpu07",
        "MASTER_PORT": str(20000 + 123456 % 20000),
    }
    assert rank_env({**SRUN, "MASTER_ADDR": "head", "MASTER_PORT": "29500"}) == {
        "RANK": "3",
        "WORLD_SIZE": "4",
        "LOCAL_RANK": "1",
    }
    bound = rank_env({**SRUN, "CUDA_VISIBLE_DEVICES": "5"})  # --gpus-per-task=1
    assert bound["LOCAL_RANK"] == "0" and bound["RANK"] == "3"
    assert rank_env({**SRUN, "CUDA_VISIBLE_DEVICES": "0,1,2,3"})["LOCAL_RANK"] == "1"
    assert rank_env({**SRUN, "WORLD_SIZE": "2"}) == {}  # torchrun's variables win
    assert rank_env({**SRUN, "SLURM_STEP_NUM_TASKS": "1"}) == {}  # one task: a single process
    # a batch script or `salloc -n4` shell: the allocation has 4 tasks, but srun started none
    batch = {k: v for k, v in SRUN.items() if k != "SLURM_STEP_NUM_TASKS"}
    assert rank_env({**batch, "SLURM_NTASKS": "4"}) == {}
    assert in_job(SRUN) and not in_job({})


def test_the_context_reads_srun_ranks_and_sets_the_rendezvous_variables(monkeypatch):
    ctx = DistContext.from_env(dict(SRUN))
    assert (ctx.rank, ctx.world_size, ctx.local_rank) == (3, 4, 1)
    for key in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        monkeypatch.delenv(key, raising=False)
    for key, value in SRUN.items():
        monkeypatch.setenv(key, value)
    assert DistContext.from_env().world_size == 4
    assert os.environ["MASTER_ADDR"] == "gpu07" and os.environ["WORLD_SIZE"] == "4"
    with pytest.raises(UserError, match="SLURM_JOB_NODELIST"):
        DistContext.from_env({**SRUN, "SLURM_JOB_NODELIST": "gpu[1-"})


def test_a_restart_finds_the_run_directory_its_first_attempt_left(tmp_path):
    env = {"TORCHELASTIC_RUN_ID": "job-1", "TORCHELASTIC_MAX_RESTARTS": "2"}
    assert restarts.may_restart(env) and not restarts.may_restart({"TORCHELASTIC_RUN_ID": "x"})
    assert restarts.attempt({"TORCHELASTIC_RESTART_COUNT": "2"}) == 2
    assert restarts.attempt({}) == 0
    assert restarts.recall(tmp_path, env) is None
    restarts.remember(tmp_path, env, tmp_path / "runs" / "r1")
    assert restarts.recall(tmp_path, env) == (tmp_path / "runs" / "r1").resolve()
    other = {**env, "TORCHELASTIC_RUN_ID": "job-2"}
    assert restarts.recall(tmp_path, other) is None  # another job never continues this run
    restarts.forget(tmp_path, env)
    assert restarts.recall(tmp_path, env) is None


def test_max_restarts_reaches_torchrun():
    cmd = torchrun_command(2, ["run", "quickstart"], max_restarts=3)
    assert "--max-restarts=3" in cmd
    assert not any(a.startswith("--max-restarts") for a in torchrun_command(2, ["run"]))


def test_a_requeued_run_names_the_command_that_continues_it(tmp_path):
    summary = {
        "status": "interrupted",
        "run_dir": str(tmp_path),
        "rerun_command": f"tui-trainer run quickstart --run-dir {tmp_path}",
        "requeue": True,
    }
    lines = next_step_lines(summary)
    assert f"rerun: tui-trainer run quickstart --run-dir {tmp_path} (or requeue the Slurm job)" in (
        lines
    )
    assert not any(
        line.startswith("rerun:") for line in next_step_lines({**summary, "status": "completed"})
    )


def test_the_launcher_passes_run_dir_and_max_restarts_needs_several_processes(capsys):
    argv = run_argv("quickstart", ["epochs=3"], out=None, resume=None, run_dir="jobs/7")
    assert argv == ["run", "quickstart", "epochs=3", "--run-dir", "jobs/7"]
    assert main(["run", "quickstart", "--max-restarts", "2"]) == 2
    assert "--max-restarts: give --nproc N too" in one_line_error(capsys)
    assert main(["run", "quickstart", "--run-dir", ""]) == 2
    assert "--run-dir: expected a folder path, got an empty value" in one_line_error(capsys)
