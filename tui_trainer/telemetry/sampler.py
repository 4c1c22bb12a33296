"""Background sampling of GPU, host and PyTorch memory telemetry.

A :class:`Sampler` owns a daemon thread that reads everything every ``interval`` seconds and
publishes an immutable :class:`TelemetrySnapshot` (with bounded histories) into a slot guarded by a
lock. Readers of the slot (the TUI, once a second) never wait on the sampling, and the training
loop never touches the sampler at all. Nothing raises into the caller.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from tui_trainer.telemetry.gpu import GpuSnapshot, NvmlReader
from tui_trainer.telemetry.host import HostReader, HostSample
from tui_trainer.telemetry.torch_memory import TorchMemorySample, read_torch_memory

__all__ = ["GpuHistory", "Sampler", "TelemetrySnapshot"]

DEFAULT_INTERVAL = 1.0
DEFAULT_HISTORY = 300  # samples: five minutes at the default interval


class _GpuReader(Protocol):
    def read(self) -> GpuSnapshot: ...


class _HostReader(Protocol):
    def read(self) -> HostSample: ...


@dataclass(frozen=True)
class GpuHistory:
    """Recent values of one GPU, oldest first (readings a GPU does not report are skipped)."""

    index: int
    utilization: tuple[float, ...] = ()  # %
    memory_utilization: tuple[float, ...] = ()  # % (memory controller busy)
    memory_used_percent: tuple[float, ...] = ()  # % of total memory in use


@dataclass(frozen=True)
class TelemetrySnapshot:
    """Everything the GPU panel and ``tui-trainer gpus`` show, at one moment. Immutable."""

    sequence: int  # increases by one per sample; lets a viewer skip unchanged snapshots
    timestamp: float  # wall clock (time.time()) when the sample was taken
    gpu: GpuSnapshot
    host: HostSample | None  # None if the host reading failed
    torch_memory: TorchMemorySample | None  # None off CUDA or before CUDA is initialised
    gpu_history: tuple[GpuHistory, ...] = ()  # one per GPU in gpu.gpus, same order
    cpu_history: tuple[float, ...] = ()  # machine CPU %, oldest first
    sample_seconds: float = 0.0  # how long taking this sample took

    def history_for(self, index: int) -> GpuHistory:
        """The history of the GPU with NVML index ``index`` (empty if none yet)."""
        for history in self.gpu_history:
            if history.index == index:
                return history
        return GpuHistory(index=index)


class Sampler:
    """Samples telemetry in a background daemon thread into a latest-snapshot slot.

    Usage::

        sampler = Sampler(interval=1.0)
        sampler.start()          # returns at once; the first sample arrives shortly after
        ...
        snapshot = sampler.latest()   # TelemetrySnapshot or None before the first sample
        ...
        sampler.stop()

    ``torch_device`` (e.g. ``"cuda:0"``) selects the device for the PyTorch memory line; it can be
    set later, once the engine has chosen its device.
    """

    def __init__(
        self,
        interval: float = DEFAULT_INTERVAL,
        history: int = DEFAULT_HISTORY,
        *,
        gpu_reader: _GpuReader | None = None,
        host_reader: _HostReader | None = None,
        torch_device: Any = None,
        torch_reader: Callable[[Any], TorchMemorySample | None] = read_torch_memory,
    ) -> None:
        if interval <= 0:
            raise ValueError(f"interval must be positive, got {interval}")
        if history < 1:
            raise ValueError(f"history must be at least 1, got {history}")
        self.interval = float(interval)
        self.history_length = int(history)
        self._gpu_reader: _GpuReader = gpu_reader if gpu_reader is not None else NvmlReader()
        self._host_reader: _HostReader = host_reader if host_reader is not None else HostReader()
        self._torch_reader = torch_reader
        self._torch_device: Any = torch_device
        self._lock = threading.Lock()  # guards _latest only; held for an assignment
        self._sample_lock = threading.Lock()  # one sample at a time (readers are not thread-safe)
        self._latest: TelemetrySnapshot | None = None
        self._sequence = 0
        self._gpu_hist: dict[int, tuple[deque[float], deque[float], deque[float]]] = {}
        self._cpu_hist: deque[float] = deque(maxlen=self.history_length)
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._last_error: str | None = None
        self._errors = 0

    # -- public API ---------------------------------------------------------------------------

    @property
    def torch_device(self) -> Any:
        """The device whose PyTorch allocator figures are read (``None``: current CUDA device)."""
        return self._torch_device

    @torch_device.setter
    def torch_device(self, device: Any) -> None:
        self._torch_device = device

    @property
    def running(self) -> bool:
        """Whether the background thread is alive."""
        return self._thread is not None and self._thread.is_alive()

    @property
    def last_error(self) -> str | None:
        """The last unexpected error while sampling (sampling goes on regardless)."""
        return self._last_error

    @property
    def error_count(self) -> int:
        """How many samples hit an unexpected error."""
        return self._errors

    def latest(self) -> TelemetrySnapshot | None:
        """The most recent snapshot, or ``None`` before the first sample. Never blocks for long."""
        with self._lock:
            return self._latest

    def start(self) -> None:
        """Start the background thread (idempotent). Returns immediately."""
        if self.running:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="tui-trainer-telemetry", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 2.0) -> None:
        """Stop the background thread and wait up to ``timeout`` seconds for it (idempotent)."""
        self._stop.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)
        self._thread = None

    def sample_now(self) -> TelemetrySnapshot:
        """Take one sample on the calling thread, publish it, and return it. Never raises."""
        with self._sample_lock:
            started = time.perf_counter()
            try:
                gpu = self._gpu_reader.read()
            except Exception as error:
                self._note_error(error)
                gpu = GpuSnapshot(available=False, reason=f"GPU telemetry failed: {error}")
            try:
                host: HostSample | None = self._host_reader.read()
            except Exception as error:
                self._note_error(error)
                host = None
            try:
                torch_memory = self._torch_reader(self._torch_device)
            except Exception as error:
                self._note_error(error)
                torch_memory = None
            snapshot = self._publish(gpu, host, torch_memory, time.perf_counter() - started)
        return snapshot

    def __enter__(self) -> Sampler:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- internals ----------------------------------------------------------------------------

    def _note_error(self, error: BaseException) -> None:
        self._errors += 1
        self._last_error = f"{type(error).__name__}: {error}"

    def _run(self) -> None:
        while not self._stop.is_set():
            started = time.monotonic()
            try:
                self.sample_now()
            except Exception as error:  # sample_now does not raise; this is a last resort
                self._note_error(error)
            elapsed = time.monotonic() - started
            self._stop.wait(max(0.0, self.interval - elapsed))

    def _publish(
        self,
        gpu: GpuSnapshot,
        host: HostSample | None,
        torch_memory: TorchMemorySample | None,
        seconds: float,
    ) -> TelemetrySnapshot:
        length = self.history_length
        histories = []
        for sample in gpu.gpus:
            util, mem_util, mem_used = self._gpu_hist.setdefault(
                sample.index, (deque(maxlen=length), deque(maxlen=length), deque(maxlen=length))
            )
            if not sample.lost:
                if sample.utilization is not None:
                    util.append(float(sample.utilization))
                if sample.memory_utilization is not None:
                    mem_util.append(float(sample.memory_utilization))
                fraction = sample.memory_fraction
                if fraction is not None:
                    mem_used.append(100.0 * fraction)
            histories.append(
                GpuHistory(sample.index, tuple(util), tuple(mem_util), tuple(mem_used))
            )
        if host is not None and host.cpu_percent is not None:
            self._cpu_hist.append(host.cpu_percent)
        self._sequence += 1
        snapshot = TelemetrySnapshot(
            sequence=self._sequence,
            timestamp=time.time(),
            gpu=gpu,
            host=host,
            torch_memory=torch_memory,
            gpu_history=tuple(histories),
            cpu_history=tuple(self._cpu_hist),
            sample_seconds=seconds,
        )
        with self._lock:
            self._latest = snapshot
        return snapshot
