"""Speed toggles: torch.compile (with an eager fallback), channels_last, TF32, cuDNN benchmark.

`apply_backend_flags` sets the process-wide CUDA flags and says what it did. `CompiledNet` wraps
the network the training step calls: with `compile: true` it runs the torch.compile'd version,
and if compiling fails (no C++ compiler, no Triton, an unsupported Python), `guarded` switches it
to eager once, with one warning that the loop records in the run's notes. A genuine model error
is not hidden: eager raises it again.
"""

from __future__ import annotations

import contextlib
import importlib
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import torch
from torch import nn

from tui_trainer.config.schema import RunConfig

T = TypeVar("T")


def apply_backend_flags(config: RunConfig, device: torch.device) -> list[str]:
    """Set TF32 and cuDNN benchmark as configured; notes about what does not apply here."""
    notes: list[str] = []
    cuda = device.type == "cuda"
    torch.backends.cuda.matmul.allow_tf32 = bool(config.tf32)
    torch.backends.cudnn.allow_tf32 = bool(config.tf32)
    if config.tf32 and not cuda:
        notes.append(f"tf32: no effect on {device.type} (CUDA tensor cores only)")
    if config.cudnn_benchmark is not None:
        torch.backends.cudnn.benchmark = bool(config.cudnn_benchmark)
        if config.cudnn_benchmark and not cuda:
            notes.append(f"cudnn_benchmark: no effect on {device.type}")
        elif config.cudnn_benchmark and config.deterministic:
            notes.append(
                "cudnn_benchmark: on although deterministic is true; cuDNN picks algorithms by "
                "timing, so GPU runs are not bitwise reproducible"
            )
    return notes


def to_channels_last(model: nn.Module) -> nn.Module:
    """The model's 4-D parameters and buffers in channels-last (NHWC) memory format."""
    return model.to(memory_format=torch.channels_last)


def batch_memory_format(x: torch.Tensor, channels_last: bool) -> torch.Tensor:
    """`x` in channels-last format when asked and it is an image batch (4-D)."""
    if channels_last and x.dim() == 4:
        return x.contiguous(memory_format=torch.channels_last)
    return x


def compile_unavailable() -> str | None:
    """Why torch.compile cannot work in this process at all, or None (checked up front)."""
    compile_fn = getattr(torch, "compile", None)
    if compile_fn is None:
        return f"torch {torch.__version__} has no torch.compile"
    try:
        dynamo = importlib.import_module("torch._dynamo")
        if not dynamo.is_dynamo_supported():
            return "TorchDynamo does not support this Python version"
    except Exception as exc:
        return f"TorchDynamo unavailable: {type(exc).__name__}: {exc}"
    return None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0][:200]}" if text else type(exc).__name__


def _is_oom(exc: BaseException) -> bool:
    return isinstance(exc, torch.OutOfMemoryError) or "out of memory" in str(exc).lower()


class CompiledNet(nn.Module):
    """The network a training step calls: compiled, or eager after a fallback.

    `inner` is the model (or its DistributedDataParallel wrapper); `no_sync` passes through.
    """

    compiled: Callable[..., Any] | None  # set by _set_compiled, outside the module registry

    def __init__(
        self,
        inner: nn.Module,
        *,
        mode: str = "default",
        enabled: bool = True,
        on_fallback: Callable[[str], None] | None = None,
    ) -> None:
        super().__init__()
        self.inner = inner
        self.on_fallback = on_fallback  # told once, with the reason, when it falls back
        self.fallback: str | None = None  # why it runs eager although compile was asked
        self.settled = not enabled  # True once a compiled step has succeeded (or none is tried)
        self._set_compiled(None)
        if enabled:
            problem = compile_unavailable()
            if problem:
                self._to_eager(f"torch.compile unavailable, running eager: {problem}")
            else:
                self._set_compiled(torch.compile(inner, mode=mode))

    def _set_compiled(self, fn: Callable[..., Any] | None) -> None:
        # Kept out of the module registry: the compiled wrapper shares `inner`'s parameters and
        # must not appear twice in state_dict() or parameters().
        object.__setattr__(self, "compiled", fn)

    @property
    def active(self) -> bool:
        """Whether the compiled version is in use."""
        return self.compiled is not None

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        """Call the compiled network, or the eager one."""
        if self.compiled is not None:
            return self.compiled(*args, **kwargs)
        return self.inner(*args, **kwargs)

    @contextlib.contextmanager
    def no_sync(self) -> Iterator[None]:
        """DDP's no_sync when the inner network has one, else nothing."""
        no_sync = getattr(self.inner, "no_sync", None)
        with no_sync() if no_sync is not None else contextlib.nullcontext():
            yield

    def _to_eager(self, reason: str) -> None:
        self._set_compiled(None)
        self.settled = True
        self.fallback = reason
        if self.on_fallback is not None:
            self.on_fallback(reason)

    def guarded(self, step: Callable[[], T], reset: Callable[[], None]) -> T:
        """Run `step` (a forward + backward); if the first compiled one fails, go eager.

        `reset` undoes a half-done step (zero the gradients) before the eager retry. After the
        first success every call is just `step()`.
        """
        if self.settled:
            return step()
        try:
            out = step()
        except Exception as exc:
            if _is_oom(exc):  # not a compile problem: eager would run out of memory too
                raise
            self._to_eager(f"torch.compile failed, running eager: {_first_line(exc)}")
            reset()
            return step()
        self.settled = True
        return out
