"""A fake NVML at the ``pynvml`` module boundary, for tests that run without a GPU.

``FakeNvml(gpus=[FakeGpu(...), ...]).install(monkeypatch)`` replaces the ``pynvml`` functions the
telemetry code calls. A field listed in ``FakeGpu.unsupported`` raises ``NVMLError_NotSupported``;
``FakeGpu.lost = True`` makes every query on that GPU raise ``NVMLError_GpuIsLost`` (set it between
samples to lose a GPU mid-run); ``FakeNvml(init_error=...)`` makes ``nvmlInit`` fail.
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import pynvml
import pytest

from tui_trainer.telemetry.gpu import NvmlReader, NvmlSession
from tui_trainer.telemetry.host import HostSample
from tui_trainer.telemetry.sampler import Sampler

GIB = 1024**3
# PIDs far above any real one here, so psutil cannot find them and the NVML name is used.
OTHER_PID = 4_000_001
GRAPHICS_PID = 4_000_002


@dataclass
class FakeGpu:
    """One fake device; every field may be changed between samples."""

    name: str = "NVIDIA A100-SXM4-80GB"
    uuid: str = "GPU-00000000-0000-0000-0000-000000000000"
    utilization: int = 97
    memory_utilization: int = 45
    memory_used: int = 40 * GIB
    memory_total: int = 80 * GIB
    temperature: int = 65
    power_mw: int = 312_000
    power_limit_mw: int = 400_000
    fan: int = 30
    pstate: int = 0
    sm_clock: int = 1410
    compute: list[tuple[int, int | None]] = field(default_factory=list)  # (pid, bytes)
    graphics: list[tuple[int, int | None]] = field(default_factory=list)
    unsupported: set[str] = field(default_factory=set)  # field names: "fan", "power", ...
    lost: bool = False


def _error(code: int) -> pynvml.NVMLError:
    return pynvml.NVMLError(code)


class FakeNvml:
    """The fake driver: a list of GPUs, driver facts, and call counters."""

    def __init__(
        self,
        gpus: list[FakeGpu] | None = None,
        *,
        driver: str = "550.54.15",
        cuda: int = 12040,
        init_error: int | None = None,
    ) -> None:
        self.gpus = gpus if gpus is not None else [FakeGpu()]
        self.driver = driver
        self.cuda = cuda
        self.init_error = init_error
        self.calls: Counter[str] = Counter()
        self.initialised = False

    # -- installation ---------------------------------------------------------------------------

    def install(self, monkeypatch: pytest.MonkeyPatch) -> FakeNvml:
        """Replace the pynvml functions with this fake for the rest of the test."""
        functions = {
            "nvmlInit": self.init,
            "nvmlShutdown": self.shutdown,
            "nvmlSystemGetDriverVersion": self.driver_version,
            "nvmlSystemGetCudaDriverVersion": self.cuda_version,
            "nvmlSystemGetProcessName": self.process_name,
            "nvmlDeviceGetCount": self.count,
            "nvmlDeviceGetHandleByIndex": self.handle,
            "nvmlDeviceGetName": self._getter("name", "name"),
            "nvmlDeviceGetUUID": self._getter("uuid", "uuid"),
            "nvmlDeviceGetEnforcedPowerLimit": self._getter("power_limit_mw", "power_limit"),
            "nvmlDeviceGetPowerUsage": self._getter("power_mw", "power"),
            "nvmlDeviceGetFanSpeed": self._getter("fan", "fan"),
            "nvmlDeviceGetPerformanceState": self._getter("pstate", "pstate"),
            "nvmlDeviceGetUtilizationRates": self.utilization,
            "nvmlDeviceGetMemoryInfo": self.memory,
            "nvmlDeviceGetTemperature": self.temperature,
            "nvmlDeviceGetClockInfo": self.clock,
            "nvmlDeviceGetComputeRunningProcesses": self._procs("compute"),
            "nvmlDeviceGetGraphicsRunningProcesses": self._procs("graphics"),
        }
        for name, fn in functions.items():
            monkeypatch.setattr(pynvml, name, fn)
        return self

    def reader(self) -> NvmlReader:
        """A reader with its own session (the process-wide one stays untouched)."""
        return NvmlReader(session=NvmlSession())

    # -- system ---------------------------------------------------------------------------------

    def init(self) -> None:
        self.calls["nvmlInit"] += 1
        if self.init_error is not None:
            raise _error(self.init_error)
        self.initialised = True

    def shutdown(self) -> None:
        self.calls["nvmlShutdown"] += 1
        self.initialised = False

    def driver_version(self) -> str:
        self.calls["driver"] += 1
        return self.driver

    def cuda_version(self) -> int:
        self.calls["cuda"] += 1
        return self.cuda

    def process_name(self, pid: int) -> str:
        return f"/opt/app/worker-{pid}"

    def count(self) -> int:
        self.calls["count"] += 1
        return len(self.gpus)

    def handle(self, index: int) -> int:
        if not 0 <= index < len(self.gpus):
            raise _error(pynvml.NVML_ERROR_INVALID_ARGUMENT)
        return index

    # -- per device -----------------------------------------------------------------------------

    def _gpu(self, handle: int, what: str) -> FakeGpu:
        self.calls[what] += 1
        gpu = self.gpus[handle]
        if gpu.lost:
            raise _error(pynvml.NVML_ERROR_GPU_IS_LOST)
        if what in gpu.unsupported:
            raise _error(pynvml.NVML_ERROR_NOT_SUPPORTED)
        return gpu

    def _getter(self, attr: str, what: str) -> Any:
        def get(handle: int) -> Any:
            return getattr(self._gpu(handle, what), attr)

        return get

    def utilization(self, handle: int) -> SimpleNamespace:
        gpu = self._gpu(handle, "utilization")
        return SimpleNamespace(gpu=gpu.utilization, memory=gpu.memory_utilization)

    def memory(self, handle: int) -> SimpleNamespace:
        gpu = self._gpu(handle, "memory")
        free = gpu.memory_total - gpu.memory_used
        return SimpleNamespace(used=gpu.memory_used, total=gpu.memory_total, free=free)

    def temperature(self, handle: int, sensor: int) -> int:
        assert sensor == pynvml.NVML_TEMPERATURE_GPU
        return self._gpu(handle, "temperature").temperature

    def clock(self, handle: int, kind: int) -> int:
        assert kind == pynvml.NVML_CLOCK_SM
        return self._gpu(handle, "sm_clock").sm_clock

    def _procs(self, kind: str) -> Any:
        def get(handle: int) -> list[SimpleNamespace]:
            gpu = self._gpu(handle, kind)
            return [SimpleNamespace(pid=p, usedGpuMemory=m) for p, m in getattr(gpu, kind)]

        return get


def two_gpus() -> list[FakeGpu]:
    """GPU 0 runs this process (and another); GPU 1 is a card without fan/power readings."""
    return [
        FakeGpu(
            compute=[(os.getpid(), 2 * GIB), (OTHER_PID, 6 * GIB)],
            graphics=[(GRAPHICS_PID, None)],
        ),
        FakeGpu(
            name="NVIDIA GeForce RTX 4090",
            uuid="GPU-11111111-1111-1111-1111-111111111111",
            utilization=12,
            memory_utilization=3,
            memory_used=1 * GIB,
            memory_total=24 * GIB,
            temperature=41,
            pstate=8,
            sm_clock=210,
            unsupported={"fan", "power", "power_limit"},
        ),
    ]


class StaticHostReader:
    """A host reader that returns a fixed sample (no psutil timing in UI/table tests)."""

    def __init__(self, sample: HostSample | None = None) -> None:
        self.sample = sample or HostSample(
            cpu_percent=42.0,
            cpu_count=8,
            memory_used=12 * GIB,
            memory_total=32 * GIB,
            process_cpu_percent=180.0,
            process_rss=3 * GIB,
            worker_count=4,
            workers_cpu_percent=320.0,
            workers_rss=2 * GIB,
        )

    def read(self) -> HostSample:
        return self.sample


def fake_sampler(fake: FakeNvml, **kwargs: Any) -> Sampler:
    """A sampler wired to ``fake`` and a fixed host reading; not started."""
    return Sampler(gpu_reader=fake.reader(), host_reader=StaticHostReader(), **kwargs)
