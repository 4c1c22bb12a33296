"""Slurm: ranks started by `srun` (no torchrun), and Slurm's warning before the time limit.

`srun` starts one task per GPU and describes each in SLURM_PROCID (the global rank),
SLURM_STEP_NUM_TASKS (the world size: the tasks of this job step, which only `srun` sets;
SLURM_NTASKS describes the allocation, also in a batch script or `salloc` shell where no other
rank will ever start), SLURM_LOCALID (the rank on its node) and SLURM_JOB_NODELIST
(the hosts, compressed: `gpu[01-03,7],login2`). `rank_env` turns these into the variables
torchrun would have set: RANK, WORLD_SIZE, LOCAL_RANK (0 when Slurm bound the task to one GPU,
which it then sees as cuda:0), MASTER_ADDR (the first host) and MASTER_PORT (a high port
derived from SLURM_JOB_ID, so every task of the job picks the same one); `torch.distributed`'s
`env://` initialisation finds them there. torchrun's variables win: a process that has
WORLD_SIZE was started by torchrun (perhaps inside a Slurm job) and is left alone, as is a
one-task job. MASTER_ADDR and MASTER_PORT already set are kept.

`#SBATCH --signal=USR1@90` makes Slurm send SIGUSR1 90 seconds before the time limit; under
Slurm (`in_job`) the run takes it as "time is nearly up": checkpoint, end `interrupted`, exit
138, so the batch script can requeue the job (see `headless.signal_handlers` and
`examples/slurm/`). No torch here.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping

PORT_BASE = 20000  # MASTER_PORT = PORT_BASE + SLURM_JOB_ID % PORT_SPAN
PORT_SPAN = 20000
_RANGE = re.compile(r"^(\d+)(?:-(\d+))?$")


class BadNodeList(ValueError):
    """A SLURM_JOB_NODELIST that does not parse."""


def _top_level(text: str) -> Iterator[str]:
    """`a[1-2],b` → `a[1-2]`, `b`: split at the commas outside brackets."""
    depth, start = 0, 0
    for i, ch in enumerate(text):
        if ch == "[":
            depth += 1
        elif ch == "]":
            depth -= 1
            if depth < 0:
                raise BadNodeList(f"unbalanced ']' in {text!r}")
        elif ch == "," and depth == 0:
            yield text[start:i]
            start = i + 1
    if depth:
        raise BadNodeList(f"unbalanced '[' in {text!r}")
    yield text[start:]


def _numbers(spec: str, whole: str) -> list[str]:
    """`01-03,7` → `01`, `02`, `03`, `7` (a range keeps its zero padding)."""
    out: list[str] = []
    for part in spec.split(","):
        m = _RANGE.match(part.strip())
        if m is None:
            raise BadNodeList(f"{part!r} in {whole!r} is not a number or a range N-M")
        lo, hi = m.group(1), m.group(2)
        if hi is None:
            out.append(lo)
            continue
        if int(hi) < int(lo):
            raise BadNodeList(f"range {part!r} in {whole!r} runs backwards")
        width = len(lo) if lo.startswith("0") else 0
        out.extend(str(n).zfill(width) for n in range(int(lo), int(hi) + 1))
    return out


def _expand_one(name: str, whole: str) -> list[str]:
    """`rack[1-2]-n[01-02]` → every combination, in order."""
    open_at = name.find("[")
    if open_at < 0:
        return [name]
    close_at = name.find("]", open_at)
    head, spec, tail = name[:open_at], name[open_at + 1 : close_at], name[close_at + 1 :]
    return [head + n + rest for n in _numbers(spec, whole) for rest in _expand_one(tail, whole)]


def expand_nodelist(text: str) -> list[str]:
    """Slurm's compressed host list, expanded: `node[01-03,7],gpu1` → node01 node02 node03
    node7 gpu1. `BadNodeList` for anything that is not such a list."""
    text = text.strip()
    if not text:
        raise BadNodeList("empty node list")
    hosts: list[str] = []
    for item in _top_level(text):
        if not item:
            raise BadNodeList(f"empty host name in {text!r}")
        hosts.extend(_expand_one(item, text))
    return hosts


def in_job(env: Mapping[str, str]) -> bool:
    """Whether this process runs inside a Slurm job (SLURM_JOB_ID set)."""
    return bool(env.get("SLURM_JOB_ID"))


def rank_env(env: Mapping[str, str]) -> dict[str, str]:
    """The torchrun-style variables for an `srun` task (empty when there is nothing to add:
    torchrun's WORLD_SIZE is there, or the job step has one task). `ValueError` with a
    one-line reason for Slurm variables that do not make sense."""
    if "WORLD_SIZE" in env or not env.get("SLURM_STEP_NUM_TASKS"):
        return {}  # torchrun's run, or not a task `srun` started (a batch script, salloc)
    try:
        world = int(env["SLURM_STEP_NUM_TASKS"])
        rank = int(env.get("SLURM_PROCID", "0"))
        local = int(env.get("SLURM_LOCALID", "0"))
    except ValueError:
        raise ValueError(
            "SLURM_STEP_NUM_TASKS, SLURM_PROCID and SLURM_LOCALID must be integers"
        ) from None
    if world <= 1:
        return {}
    visible = [d for d in env.get("CUDA_VISIBLE_DEVICES", "").split(",") if d.strip()]
    if len(visible) == 1:  # Slurm bound this task to one GPU (--gpus-per-task=1): cuda:0
        local = 0
    out = {"RANK": str(rank), "WORLD_SIZE": str(world), "LOCAL_RANK": str(local)}
    if not env.get("MASTER_ADDR"):
        nodes = env.get("SLURM_STEP_NODELIST") or env.get("SLURM_JOB_NODELIST") or ""
        try:
            out["MASTER_ADDR"] = expand_nodelist(nodes)[0]
        except BadNodeList as exc:
            raise ValueError(f"SLURM_JOB_NODELIST: {exc}") from None
    if not env.get("MASTER_PORT"):
        try:
            job = int(env.get("SLURM_JOB_ID", "0"))
        except ValueError:
            raise ValueError("SLURM_JOB_ID must be an integer") from None
        out["MASTER_PORT"] = str(PORT_BASE + job % PORT_SPAN)
    return out
