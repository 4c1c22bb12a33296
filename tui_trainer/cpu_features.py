"""What this machine's CPU (and driver) can do, read from the OS without importing torch.

Used by `tui-trainer check` (which never imports torch) and by the engine's precision
resolution: bf16 autocast on a CPU without native bf16 instructions is emulated, several
times slower than fp32.
"""

from __future__ import annotations

import os
from pathlib import Path

BF16_FLAGS = ("avx512_bf16", "amx_bf16")  # x86 /proc/cpuinfo "flags"
ARM_BF16_FEATURES = ("bf16",)  # aarch64 /proc/cpuinfo "Features"


def cpu_flags(cpuinfo: str | None = None) -> set[str] | None:
    """The CPU's feature flags from /proc/cpuinfo, or None where it cannot be read."""
    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text(errors="replace")
        except OSError:
            return None
    flags: set[str] = set()
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        if key.strip().lower() in ("flags", "features"):
            flags.update(value.split())
    return flags or None


def native_cpu_bf16(cpuinfo: str | None = None) -> bool | None:
    """True when the CPU computes bf16 natively, False when it does not, None when unknown."""
    flags = cpu_flags(cpuinfo)
    if flags is None:
        return None
    return any(f in flags for f in (*BF16_FLAGS, *ARM_BF16_FEATURES))


def nvidia_driver_present() -> bool:
    """True when an NVIDIA driver is loaded (a cheap hint that device=auto picks CUDA)."""
    return os.path.exists("/proc/driver/nvidia/version")


def precision_note(precision: str, device: str) -> str | None:
    """What `precision` will really run as on this machine for `device` (None: as asked)."""
    on_cpu = device == "cpu" or (device == "auto" and not nvidia_driver_present())
    if not on_cpu:
        return None
    if precision == "fp16":
        return "precision fp16 needs CUDA: on this machine's CPU the run uses fp32"
    if precision == "bf16" and native_cpu_bf16() is False:
        return (
            "precision bf16 on this CPU is emulated (no avx512_bf16 or amx_bf16): expect it "
            "to be several times slower than fp32 (4-6x measured on an AVX2-only CPU); "
            "the run measures the cost at start"
        )
    return None
