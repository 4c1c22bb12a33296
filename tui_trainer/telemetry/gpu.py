"""GPU telemetry through NVML (the ``nvidia-ml-py`` binding, imported as ``pynvml``).

One NVML session per process (:class:`NvmlSession`, started on first use and shut down at exit),
and a reader (:class:`NvmlReader`) that turns NVML calls into frozen snapshots of plain values.

Errors are handled per field and per device: a field the GPU does not support is ``None`` (shown
as "N/A"); a GPU that falls off the bus (``NVMLError_GpuIsLost``) is marked lost and the other GPUs
keep updating; a machine without the NVML library, the driver or a device gets a snapshot with
``available=False`` and a one-line reason. Nothing here raises into the caller.

Every NVML function is called through the module (``pynvml.nvmlDeviceGetCount()``) so that tests
can replace them with a fake.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import psutil
import pynvml

__all__ = [
    "GpuProcess",
    "GpuSample",
    "GpuSnapshot",
    "NvmlReader",
    "NvmlSession",
    "default_session",
    "describe_nvml_error",
]

T = TypeVar("T")

# NVML reports "unknown" performance state as 32; real states are P0..P15.
_PSTATE_UNKNOWN = 32
# Errors after which a device gives no more data until it is reset.
_LOST_CODES = frozenset({pynvml.NVML_ERROR_GPU_IS_LOST, pynvml.NVML_ERROR_RESET_REQUIRED})


@dataclass(frozen=True)
class GpuProcess:
    """A process that holds a context on a GPU."""

    pid: int
    name: str
    used_memory: int | None  # bytes; None when the driver does not report it
    kind: str  # "C" (compute), "G" (graphics) or "C+G"
    is_self: bool  # this run's own process


@dataclass(frozen=True)
class GpuSample:
    """One reading of one GPU. ``None`` in a field means the GPU does not report it ("N/A")."""

    index: int  # NVML index (the order nvidia-smi uses)
    name: str
    uuid: str | None = None
    lost: bool = False  # the GPU stopped answering (fell off the bus, needs a reset)
    lost_reason: str | None = None
    utilization: int | None = None  # % of time a kernel was running
    memory_utilization: int | None = None  # % of time device memory was read or written
    memory_used: int | None = None  # bytes
    memory_total: int | None = None  # bytes
    temperature: int | None = None  # degrees C
    power_draw: float | None = None  # W
    power_limit: float | None = None  # W (enforced limit)
    fan_speed: int | None = None  # % of maximum
    pstate: int | None = None  # 0 (fastest) .. 15
    sm_clock: int | None = None  # MHz
    processes: tuple[GpuProcess, ...] = ()

    @property
    def memory_fraction(self) -> float | None:
        """Used memory as a fraction of the total, or ``None`` when either is unknown."""
        if self.memory_used is None or not self.memory_total:
            return None
        return self.memory_used / self.memory_total


@dataclass(frozen=True)
class GpuSnapshot:
    """All GPUs at one moment, plus the driver facts read once per process."""

    available: bool  # NVML started and found at least one device
    reason: str | None = None  # why no GPU data, when not available (one line)
    driver_version: str | None = None
    cuda_version: str | None = None  # the newest CUDA the driver supports, e.g. "12.4"
    gpus: tuple[GpuSample, ...] = ()


def describe_nvml_error(error: BaseException) -> str:
    """Turn an error from ``nvmlInit`` into a one-line reason a person can act on."""
    value = getattr(error, "value", None)
    if value == pynvml.NVML_ERROR_LIBRARY_NOT_FOUND:
        return "no NVIDIA driver installed (libnvidia-ml.so.1 not found)"
    if value == pynvml.NVML_ERROR_DRIVER_NOT_LOADED:
        return "NVIDIA driver not loaded"
    if value == pynvml.NVML_ERROR_NO_PERMISSION:
        return "no permission to access the NVIDIA driver"
    if value == pynvml.NVML_ERROR_LIB_RM_VERSION_MISMATCH:
        return "NVIDIA driver and NVML library versions differ (reload the driver or reboot)"
    return f"NVML failed to start: {error}"


class NvmlSession:
    """Process-wide NVML initialisation: started once, shut down at interpreter exit.

    :meth:`start` is cheap to call repeatedly; the outcome of the first attempt is remembered, so a
    machine without a driver pays for the failed library lookup once.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._attempted = False
        self._active = False
        self._error: str | None = None
        self._atexit_registered = False

    @property
    def active(self) -> bool:
        """Whether NVML is initialised and usable."""
        return self._active

    def start(self) -> str | None:
        """Initialise NVML if not done yet. Returns ``None`` when usable, else the reason."""
        with self._lock:
            if self._attempted:
                return self._error
            self._attempted = True
            try:
                pynvml.nvmlInit()
            except Exception as error:  # NVMLError, or OSError from a broken library
                self._error = describe_nvml_error(error)
                return self._error
            self._active = True
            self._error = None
            if not self._atexit_registered:
                atexit.register(self.shutdown)
                self._atexit_registered = True
            return None

    def shutdown(self) -> None:
        """Shut NVML down for good (idempotent); later :meth:`start` calls report it as closed.

        Final on purpose: at interpreter exit a daemon sampler thread may still be reading, and it
        must not initialise NVML again after this ran.
        """
        with self._lock:
            if self._active:
                with contextlib.suppress(Exception):
                    pynvml.nvmlShutdown()
            self._active = False
            self._attempted = True
            self._error = "NVML session closed"


_DEFAULT_SESSION = NvmlSession()


def default_session() -> NvmlSession:
    """The process-wide NVML session every reader shares unless given another one."""
    return _DEFAULT_SESSION


class _GpuLost(Exception):
    """Raised inside the reader when a device stops answering."""


def _field(fn: Callable[..., T], *args: Any) -> T | None:
    """Call one NVML query; ``None`` when unsupported or failing, :class:`_GpuLost` when lost."""
    try:
        return fn(*args)
    except pynvml.NVMLError as error:
        if getattr(error, "value", None) in _LOST_CODES:
            raise _GpuLost(str(error)) from error
        return None
    except Exception:
        return None


def _quiet(fn: Callable[..., T], *args: Any) -> T | None:
    """Like :func:`_field` for queries that are not about one device: never raises."""
    try:
        return _field(fn, *args)
    except _GpuLost:
        return None


def _cuda_version_string(value: int | None) -> str | None:
    """12040 -> "12.4" (NVML encodes major*1000 + minor*10)."""
    if not value:
        return None
    return f"{value // 1000}.{(value % 1000) // 10}"


def _watts(milliwatts: int | None) -> float | None:
    return None if milliwatts is None else milliwatts / 1000.0


@dataclass
class _Device:
    """What the reader keeps about one device between samples (mutable, private)."""

    index: int
    handle: Any
    name: str
    uuid: str | None
    power_limit: float | None
    static_read_at: float
    lost: bool = False
    lost_reason: str | None = None


class NvmlReader:
    """Reads every GPU through NVML into a :class:`GpuSnapshot`.

    Slow-changing facts (device list, names, UUIDs, driver and CUDA version) are read once;
    the enforced power limit is re-read every ``static_refresh_s`` seconds. Not thread-safe: use
    one reader per thread (the sampler owns one).
    """

    def __init__(
        self,
        session: NvmlSession | None = None,
        *,
        static_refresh_s: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._session = session or default_session()
        self._static_refresh_s = static_refresh_s
        self._clock = clock
        self._devices: list[_Device] | None = None
        self._driver: str | None = None
        self._cuda: str | None = None
        self._discovery_error: str | None = None
        self._process_names: dict[int, str] = {}

    def read(self) -> GpuSnapshot:
        """Take one reading of all GPUs. Never raises."""
        try:
            return self._read()
        except Exception as error:  # defensive: a bug or an odd driver must not stop sampling
            return GpuSnapshot(available=False, reason=f"GPU telemetry failed: {error}")

    def _read(self) -> GpuSnapshot:
        reason = self._session.start()
        if reason is not None:
            return GpuSnapshot(available=False, reason=reason)
        if self._devices is None:
            self._discover()
        if self._discovery_error is not None or not self._devices:
            return GpuSnapshot(
                available=False,
                reason=self._discovery_error
                or "no NVIDIA GPU found (the driver reports 0 devices)",
                driver_version=self._driver,
                cuda_version=self._cuda,
            )
        own_pid = os.getpid()
        seen_pids: set[int] = set()
        samples = tuple(self._sample(device, own_pid, seen_pids) for device in self._devices)
        # Forget names of processes that are gone, so the cache stays small and PIDs can be reused.
        for pid in [p for p in self._process_names if p not in seen_pids]:
            del self._process_names[pid]
        return GpuSnapshot(
            available=True,
            driver_version=self._driver,
            cuda_version=self._cuda,
            gpus=samples,
        )

    def _discover(self) -> None:
        """Read the device list and the once-per-process facts."""
        self._driver = _quiet(pynvml.nvmlSystemGetDriverVersion)
        self._cuda = _cuda_version_string(_quiet(pynvml.nvmlSystemGetCudaDriverVersion))
        try:
            count = pynvml.nvmlDeviceGetCount()
        except Exception as error:
            self._discovery_error = f"NVML could not count GPUs: {error}"
            self._devices = []
            return
        devices = []
        now = self._clock()
        for index in range(count):
            try:
                handle = pynvml.nvmlDeviceGetHandleByIndex(index)
            except Exception as error:
                devices.append(
                    _Device(index, None, "unknown GPU", None, None, now, True, str(error))
                )
                continue
            device = _Device(index, handle, "unknown GPU", None, None, now)
            try:
                device.name = _field(pynvml.nvmlDeviceGetName, handle) or "unknown GPU"
                device.uuid = _field(pynvml.nvmlDeviceGetUUID, handle)
                device.power_limit = _watts(_field(pynvml.nvmlDeviceGetEnforcedPowerLimit, handle))
            except _GpuLost as lost:
                device.lost, device.lost_reason = True, str(lost)
            devices.append(device)
        self._devices = devices

    def _sample(self, device: _Device, own_pid: int, seen_pids: set[int]) -> GpuSample:
        if device.lost:
            return _lost_sample(device)
        handle = device.handle
        try:
            now = self._clock()
            if now - device.static_read_at >= self._static_refresh_s:
                limit = _field(pynvml.nvmlDeviceGetEnforcedPowerLimit, handle)
                device.power_limit = _watts(limit)
                device.static_read_at = now
            util = _field(pynvml.nvmlDeviceGetUtilizationRates, handle)
            memory = _field(pynvml.nvmlDeviceGetMemoryInfo, handle)
            pstate = _field(pynvml.nvmlDeviceGetPerformanceState, handle)
            return GpuSample(
                index=device.index,
                name=device.name,
                uuid=device.uuid,
                utilization=None if util is None else int(util.gpu),
                memory_utilization=None if util is None else int(util.memory),
                memory_used=None if memory is None else int(memory.used),
                memory_total=None if memory is None else int(memory.total),
                temperature=_field(
                    pynvml.nvmlDeviceGetTemperature, handle, pynvml.NVML_TEMPERATURE_GPU
                ),
                power_draw=_watts(_field(pynvml.nvmlDeviceGetPowerUsage, handle)),
                power_limit=device.power_limit,
                fan_speed=_field(pynvml.nvmlDeviceGetFanSpeed, handle),
                pstate=None if pstate is None or pstate >= _PSTATE_UNKNOWN else int(pstate),
                sm_clock=_field(pynvml.nvmlDeviceGetClockInfo, handle, pynvml.NVML_CLOCK_SM),
                processes=self._processes(handle, own_pid, seen_pids),
            )
        except _GpuLost as lost:
            device.lost, device.lost_reason = True, str(lost)
            return _lost_sample(device)

    def _processes(self, handle: Any, own_pid: int, seen_pids: set[int]) -> tuple[GpuProcess, ...]:
        compute = _field(pynvml.nvmlDeviceGetComputeRunningProcesses, handle) or []
        graphics = _field(pynvml.nvmlDeviceGetGraphicsRunningProcesses, handle) or []
        found: dict[int, tuple[str, int | None]] = {}  # pid -> (kind, memory)
        for kind, procs in (("C", compute), ("G", graphics)):
            for proc in procs:
                pid = int(proc.pid)
                memory = getattr(proc, "usedGpuMemory", None)
                memory = None if memory is None else int(memory)
                if pid in found:
                    old_kind, old_memory = found[pid]
                    kind_both = old_kind if kind in old_kind else f"{old_kind}+{kind}"
                    found[pid] = (kind_both, old_memory if old_memory is not None else memory)
                else:
                    found[pid] = (kind, memory)
        seen_pids.update(found)
        result = [
            GpuProcess(
                pid=pid,
                name=self._process_name(pid),
                used_memory=memory,
                kind=kind,
                is_self=pid == own_pid,
            )
            for pid, (kind, memory) in found.items()
        ]
        result.sort(key=lambda p: (not p.is_self, -(p.used_memory or 0), p.pid))
        return tuple(result)

    def _process_name(self, pid: int) -> str:
        name = self._process_names.get(pid)
        if name is None:
            try:
                name = psutil.Process(pid).name()
            except Exception:  # gone, not visible from this PID namespace, or access denied
                path = _quiet(pynvml.nvmlSystemGetProcessName, pid)
                name = os.path.basename(path) if path else "?"
            self._process_names[pid] = name
        return name


def _lost_sample(device: _Device) -> GpuSample:
    """What a lost GPU shows from then on: who it was and why it is gone."""
    return GpuSample(
        index=device.index,
        name=device.name,
        uuid=device.uuid,
        lost=True,
        lost_reason=device.lost_reason,
    )
