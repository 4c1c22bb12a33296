"""This run's own view of GPU memory, from PyTorch's caching allocator.

The reading is side-effect free: it does not import torch (if the process has not imported it,
nothing can be on a GPU) and does not initialise CUDA (``torch.cuda.is_initialized()`` must
already be true). The allocator statistics are host-side counters, so reading them from another
thread never synchronises with the GPU.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Any

__all__ = ["TorchMemorySample", "read_torch_memory"]


@dataclass(frozen=True)
class TorchMemorySample:
    """PyTorch allocator figures for one CUDA device, in bytes."""

    device: str  # e.g. "cuda:0" (PyTorch's numbering, after CUDA_VISIBLE_DEVICES)
    allocated: int  # held by live tensors
    reserved: int  # held by the caching allocator (allocated + cached free blocks)
    peak_allocated: int  # max allocated since start or the last reset_peak_memory_stats


def read_torch_memory(device: Any = None) -> TorchMemorySample | None:
    """Read allocated / reserved / peak memory for ``device`` (default: the current CUDA device).

    ``device`` may be an int, a string such as ``"cuda:1"`` or a ``torch.device``. Returns ``None``
    when the device is not a CUDA device, when torch is not imported or CUDA not initialised in
    this process, or on any error. Never initialises CUDA.
    """
    torch = sys.modules.get("torch")
    if torch is None:
        return None
    try:
        if not torch.cuda.is_initialized():
            return None
        if device is None:
            index = torch.cuda.current_device()
        elif isinstance(device, int):
            index = device
        else:
            dev = torch.device(device)
            if dev.type != "cuda":
                return None
            index = dev.index if dev.index is not None else torch.cuda.current_device()
        return TorchMemorySample(
            device=f"cuda:{index}",
            allocated=int(torch.cuda.memory_allocated(index)),
            reserved=int(torch.cuda.memory_reserved(index)),
            peak_allocated=int(torch.cuda.max_memory_allocated(index)),
        )
    except Exception:
        return None
