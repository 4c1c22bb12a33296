"""Several processes, one run: the process group, rank bookkeeping and the few collectives.

torchrun (`python -m torch.distributed.run`) starts one process per device and tells each its
place through environment variables (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR/PORT); `srun`
does the same in Slurm's own (`tui_trainer.slurm`). `DistContext.from_env` reads them; without
them it is the single-process context, whose collectives are no-ops, so the trainer has one code
path for both.

The engine's collectives are few and happen at points every rank reaches in the same order:
DDP's gradient all-reduce (once per accumulation window), a control-flags broadcast every
`control_every` optimizer steps and at epoch end, the epoch's loss/metric sums, validation
metrics, and checkpoint-time partial sums. Nothing here depends on wall-clock time.

Teardown (`stop`, then `end_worker`): a rank that ended cleanly waits at a barrier for the
others, then destroys the process group. torch 2.14's DDP keeps the gloo process group (and its
worker threads) alive past `destroy_process_group`, and a normal interpreter exit then runs C++
static destructors while those threads still run: now and then the process died with SIGABRT
("terminate called without an active exception") after a run that had succeeded. So a worker
that ran a process group finishes Python's own shutdown itself and leaves with `os._exit`.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any

import torch
import torch.distributed as tdist

from tui_trainer import slurm
from tui_trainer.errors import UserError
from tui_trainer.process_exit import finish_process


@dataclass(frozen=True)
class DistContext:
    """Where this process stands in a (possibly one-process) run."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    backend: str | None = None  # set by `start`; None while no process group is up

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> DistContext:
        """The context torchrun describes in RANK / WORLD_SIZE / LOCAL_RANK, or `srun` in
        Slurm's variables (`tui_trainer.slurm`; torchrun's win); single otherwise.

        Reading this process's environment (`env` None), the variables derived from Slurm's
        are also set in `os.environ`, where `init_process_group` (env://) and later calls read
        them; a given `env` is only read.
        """
        own = env is None
        env = dict(os.environ if env is None else env)
        try:
            derived = slurm.rank_env(env)
        except ValueError as exc:
            raise UserError(str(exc)) from None
        env.update(derived)
        if own and derived:
            os.environ.update(derived)
        try:
            world = int(env.get("WORLD_SIZE", "1"))
            rank = int(env.get("RANK", "0"))
            local = int(env.get("LOCAL_RANK", str(rank)))
        except ValueError:
            raise UserError("RANK, WORLD_SIZE and LOCAL_RANK must be integers") from None
        if world < 1 or not 0 <= rank < world:
            raise UserError(f"RANK {rank} is not inside WORLD_SIZE {world}")
        return cls(rank=rank, world_size=world, local_rank=local)

    # -- what this process is --------------------------------------------------------------------
    @property
    def enabled(self) -> bool:
        """True when more than one process trains together."""
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """Rank 0: the one process that writes files and prints."""
        return self.rank == 0

    def device(self, resolved: torch.device) -> torch.device:
        """The device this rank trains on: cuda:LOCAL_RANK when the run is on CUDA."""
        if self.enabled and resolved.type == "cuda":
            return torch.device("cuda", self.local_rank)
        return resolved

    def resolve_backend(self, requested: str, device: torch.device) -> str:
        """`auto` is NCCL on CUDA devices and gloo otherwise; NCCL on a CPU run is a UserError."""
        if requested == "auto":
            return "nccl" if device.type == "cuda" else "gloo"
        if requested == "nccl" and device.type != "cuda":
            raise UserError(f"backend: nccl needs CUDA devices; this run is on {device.type}")
        return requested

    # -- the process group -----------------------------------------------------------------------
    def start(self, requested: str, device: torch.device, timeout_s: float) -> DistContext:
        """Initialise the process group (a no-op returning self for a single process)."""
        if not self.enabled:
            return self
        backend = self.resolve_backend(requested, device)
        if device.type == "cuda":
            if device.index is not None and device.index >= torch.cuda.device_count():
                raise UserError(
                    f"LOCAL_RANK {self.local_rank}: only {torch.cuda.device_count()} CUDA "
                    "device(s) on this machine (lower --nproc_per_node)"
                )
            torch.cuda.set_device(device)
        global _group_started
        _group_started = True
        if not tdist.is_initialized():
            tdist.init_process_group(
                backend=backend,
                rank=self.rank,
                world_size=self.world_size,
                timeout=timedelta(seconds=timeout_s),
                store=self._attempt_store(timedelta(seconds=timeout_s)),
            )
        return replace(self, backend=backend)

    def _attempt_store(self, timeout: timedelta) -> tdist.Store | None:
        """After a torchrun restart (TORCHELASTIC_RESTART_COUNT > 0): the rendezvous store
        under a prefix of this attempt's own; None (env://) otherwise.

        torchrun's store outlives the workers it restarts, and still holds the first
        attempt's process-group keys (the dead workers' addresses): without a prefix the
        restarted workers try to reach those and fail to connect.
        """
        attempt = os.environ.get("TORCHELASTIC_RESTART_COUNT", "0")
        if attempt in ("", "0"):
            return None
        agent = os.environ.get("TORCHELASTIC_USE_AGENT_STORE") == "True"
        base = tdist.TCPStore(
            os.environ["MASTER_ADDR"],
            int(os.environ["MASTER_PORT"]),
            self.world_size,
            is_master=not agent and self.rank == 0,
            timeout=timeout,
            multi_tenant=not agent,
        )
        return tdist.PrefixStore(f"tui-trainer/attempt-{attempt}/", base)

    def stop(self, sync: bool = False) -> None:
        """Tear the process group down (safe to call when none is up).

        `sync`: this rank ended where every rank ends (a finished, stopped or interrupted run,
        decided together), so it first waits for the others: none leaves while another is still
        in a collective. A failed rank does not wait (the others may never get there).
        """
        if not (self.enabled and tdist.is_initialized()):
            return
        try:
            if sync:
                with contextlib.suppress(RuntimeError):  # a peer gone already: nothing to wait for
                    tdist.barrier()
        finally:
            tdist.destroy_process_group()

    # -- collectives (no-ops for one process) ----------------------------------------------------
    def all_reduce_sum(self, tensor: torch.Tensor) -> torch.Tensor:
        """Sum `tensor` over all ranks in place and return it."""
        if self.enabled:
            tdist.all_reduce(tensor, op=tdist.ReduceOp.SUM)
        return tensor

    def sum_floats(self, values: list[float], device: torch.device) -> list[float]:
        """Sum a few Python numbers over all ranks (one collective, float64)."""
        if not self.enabled:
            return list(values)
        t = torch.tensor(values, dtype=torch.float64, device=device)
        return [float(v) for v in self.all_reduce_sum(t).tolist()]

    def broadcast_flags(self, flags: list[int], device: torch.device) -> list[int]:
        """Rank 0's small list of ints, on every rank (the others pass placeholders)."""
        if not self.enabled:
            return list(flags)
        t = torch.tensor(flags, dtype=torch.int64, device=device)
        tdist.broadcast(t, src=0)
        return [int(v) for v in t.tolist()]

    def broadcast_object(self, obj: Any) -> Any:
        """Rank 0's picklable `obj`, on every rank."""
        if not self.enabled:
            return obj
        box = [obj]
        tdist.broadcast_object_list(box, src=0)
        return box[0]

    def gather_objects(self, obj: Any) -> list[Any]:
        """Every rank's `obj`, in rank order, on every rank."""
        if not self.enabled:
            return [obj]
        out: list[Any] = [None] * self.world_size
        tdist.all_gather_object(out, obj)
        return out

    def barrier(self) -> None:
        """Wait until every rank gets here."""
        if self.enabled:
            tdist.barrier()


SINGLE = DistContext()
_group_started = False  # this process initialised a process group (see `end_worker`)


def end_worker(code: int) -> None:
    """End a process that ran a process group with `code`, skipping the interpreter's teardown.

    Returns at once in a process that never started one. Otherwise (the group is destroyed by
    now, see `DistContext.stop`): join the threads Python would wait for, run the atexit
    handlers (our control socket, logging), flush stdout and stderr, then `os._exit(code)`, so
    C++ static destructors never race the gloo threads that DDP keeps alive (module docstring).
    """
    if not _group_started:
        return
    finish_process(code)


def shard_indices(order: torch.Tensor, rank: int, world_size: int, pad: bool) -> torch.Tensor:
    """This rank's share of an epoch's sample order, the way DistributedSampler splits it.

    Rank r takes positions r, r + W, r + 2W, ... so the ranks' k-th batches together are the
    k-th batch of a single process with W times the batch size. `pad` repeats samples from the
    start of the order until every rank has the same count (training: equal step counts);
    without it the first ranks get one sample more (validation: nothing counted twice).
    """
    if world_size == 1:
        return order
    n = int(order.shape[0])
    if pad:
        total = -(-n // world_size) * world_size
        if total > n:
            reps = -(-(total - n) // n)
            order = torch.cat([order, order.repeat(reps)[: total - n]])
    return order[rank::world_size]
