"""Device and precision resolution, seeding and determinism."""

from __future__ import annotations

import contextlib
import os
import random
from collections.abc import Iterator

import numpy as np
import torch

from tui_trainer.config.schema import RunConfig
from tui_trainer.errors import UserError


def resolve_device(requested: str) -> torch.device:
    """Turn `auto | cpu | cuda | cuda:N | mps` into a torch.device, or a clear UserError."""
    if requested == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if requested.startswith("cuda"):
        if not torch.cuda.is_available():
            raise UserError(
                f"device: '{requested}' requested but CUDA is not available on this machine "
                "(use device=cpu or device=auto)"
            )
        dev = torch.device(requested)
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise UserError(
                f"device: '{requested}' requested but only {torch.cuda.device_count()} "
                "CUDA device(s) exist"
            )
        return dev
    if requested == "mps" and not torch.backends.mps.is_available():
        raise UserError("device: 'mps' requested but MPS is not available on this machine")
    return torch.device(requested)


def resolve_precision(precision: str, device: torch.device) -> tuple[str, list[str]]:
    """The precision that will actually run on `device`, with notes about any fallback."""
    if precision == "fp16" and device.type != "cuda":
        return "fp32", [f"precision fp16 needs CUDA; fell back to fp32 on {device.type}"]
    if precision == "bf16" and device.type == "cuda" and not torch.cuda.is_bf16_supported():
        return "fp32", [f"precision bf16 is not supported on {torch.cuda.get_device_name(device)}"]
    return precision, []


def resolve_runtime(config: RunConfig) -> tuple[RunConfig, torch.device, list[str]]:
    """Resolve device and precision; the returned config records the effective values.

    The returned warnings also cover a precision that runs as asked but slowly (bf16 emulated
    on a CPU without native bf16, with the slowdown measured here).
    """
    device = resolve_device(config.device)
    precision, notes = resolve_precision(config.precision, device)
    if notes:
        config = config.model_copy(
            update={"precision": precision, "notes": [*config.notes, *notes]}, deep=True
        )
    if precision == "bf16":  # a warning, not a change: not recorded in config.notes
        from tui_trainer.engine.cpu_bf16 import bf16_warning

        warning = bf16_warning(device)
        if warning:
            notes = [*notes, warning]
    return config, device, notes


def autocast_dtype(precision: str) -> torch.dtype | None:
    """The autocast dtype for a precision name (None for fp32)."""
    return {"fp16": torch.float16, "bf16": torch.bfloat16}.get(precision)


@contextlib.contextmanager
def autocast(device: torch.device, precision: str) -> Iterator[None]:
    """torch.amp autocast for fp16/bf16; a no-op for fp32."""
    dtype = autocast_dtype(precision)
    if dtype is None:
        yield
        return
    with torch.autocast(device_type=device.type, dtype=dtype):
        yield


def seed_everything(seed: int, deterministic: bool) -> None:
    """Seed python, numpy and torch (CPU and CUDA); optionally ask for deterministic kernels."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    if deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.benchmark = False
    else:
        torch.use_deterministic_algorithms(False)
        torch.backends.cudnn.benchmark = True
