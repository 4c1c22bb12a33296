"""The real cost of bf16 autocast on a CPU, measured, for a warning at the start of a run."""

from __future__ import annotations

import time

import torch
import torch.nn.functional as F

from tui_trainer.cpu_features import native_cpu_bf16


def _seconds(dtype: torch.dtype | None, x: torch.Tensor, w: torch.Tensor, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        with torch.autocast("cpu", dtype=dtype or torch.bfloat16, enabled=dtype is not None):
            y = F.conv2d(x, w, padding=1)
        y.float().sum().backward()
        best = min(best, time.perf_counter() - t0)
    return best


def measured_slowdown(repeat: int = 3) -> float:
    """bf16 autocast time / fp32 time of a small 3x3 convolution, forward and backward."""
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(8, 16, 32, 32, generator=gen)
    w = torch.randn(16, 16, 3, 3, generator=gen, requires_grad=True)
    _seconds(None, x, w, 1)  # warm-up
    _seconds(torch.bfloat16, x, w, 1)
    fp32 = _seconds(None, x, w, repeat)
    bf16 = _seconds(torch.bfloat16, x, w, repeat)
    return bf16 / max(fp32, 1e-9)


def bf16_warning(device: torch.device, threshold: float = 1.5) -> str | None:
    """A warning when bf16 on this CPU is slow: why, and how much slower (measured here).

    The CPU's flags say whether bf16 is native; the measurement says what it costs, so a CPU
    whose bf16 support does not pay off for convolutions is reported too.
    """
    if device.type != "cpu":
        return None
    native = native_cpu_bf16()
    if native is None:
        native = bool(getattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", lambda: False)())
    slowdown = measured_slowdown()
    if native and slowdown < threshold:
        return None
    why = (
        "this CPU has native bf16 but it does not pay off here"
        if native
        else "this CPU has no native bf16 (no avx512_bf16 or amx_bf16), so autocast emulates it"
    )
    return (
        f"precision bf16: {why}: measured {slowdown:.1f}x slower than fp32 (a 3x3 "
        "convolution, forward and backward); precision=fp32 trains faster on this machine"
    )
