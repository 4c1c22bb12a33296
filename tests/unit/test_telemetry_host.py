"""Host telemetry (psutil), this run's PyTorch memory view, and the telemetry package's imports."""

from __future__ import annotations

import subprocess
import sys
import time

import psutil
import pytest
import torch

from tui_trainer.telemetry import torch_memory
from tui_trainer.telemetry.host import HostReader
from tui_trainer.telemetry.torch_memory import TorchMemorySample, read_torch_memory

SLEEPER = "import time; time.sleep(30)"
SPINNER = "import time\nend = time.time() + 30\nwhile time.time() < end: pass"


def _child(code: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-c", code])


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.kill()
    proc.wait(5)


# -- host ---------------------------------------------------------------------------------------


def test_machine_and_process_figures() -> None:
    reader = HostReader()
    first = reader.read()
    assert first.cpu_percent is None and first.process_cpu_percent is None  # no baseline yet
    assert first.cpu_count >= 1 and first.memory_total > 0
    assert 0 < first.memory_used <= first.memory_total
    assert 0 < first.memory_percent <= 100
    assert first.process_rss is not None and first.process_rss > 10 * 1024**2  # python + torch

    sum(i * i for i in range(300_000))  # burn a little CPU in this process
    second = reader.read()
    assert second.cpu_percent is not None and 0 <= second.cpu_percent <= 100
    assert second.process_cpu_percent is not None and second.process_cpu_percent >= 0


def _cpu_seconds(proc: psutil.Process) -> float:
    times = proc.cpu_times()
    return times.user + times.system


def test_child_processes_are_counted_as_workers() -> None:
    reader = HostReader()
    before = reader.read().worker_count
    children = [_child(SLEEPER), _child(SPINNER)]
    spinner = psutil.Process(children[1].pid)
    try:
        t0 = time.monotonic()
        reader.read()  # baseline for the new children's CPU
        c0 = _cpu_seconds(spinner)
        # Wait for the spinner to burn CPU (on a busy machine it gets less than a core): a
        # condition on its CPU time, not a fixed sleep.
        deadline = time.monotonic() + 60
        while _cpu_seconds(spinner) - c0 < 0.3:
            assert time.monotonic() < deadline, "the spinner got no CPU for a minute"
            time.sleep(0.02)
        c1 = _cpu_seconds(spinner)
        sample = reader.read()
        t1 = time.monotonic()
        assert sample.worker_count == before + 2
        assert sample.workers_rss is not None and sample.workers_rss > 2 * 1024**2
        # Between its two reads the reader saw at least the spinner's c1 - c0 CPU seconds, over
        # at most t1 - t0 seconds: its share (100 = one core) is at least that ratio (less one
        # clock tick of rounding in the kernel's CPU times).
        floor = (c1 - c0 - 0.02) / (t1 - t0) * 100
        assert sample.workers_cpu_percent is not None and sample.workers_cpu_percent >= floor > 0
    finally:
        for proc in children:
            _stop(proc)
    after = reader.read()
    assert after.worker_count == before
    if before == 0:
        assert after.workers_rss is None


def test_vanishing_children_and_missing_process_do_not_raise(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    reader = HostReader()
    reader.read()
    proc = _child(SLEEPER)
    stale = psutil.Process(proc.pid)
    _stop(proc)  # gone (and reaped) before the reader looks at it
    assert reader._process is not None
    monkeypatch.setattr(reader._process, "children", lambda recursive=False: [stale])
    sample = reader.read()
    assert sample.worker_count == 0 and sample.workers_cpu_percent == 0.0

    gone = HostReader(pid=proc.pid)
    sample = gone.read()
    assert sample.process_rss is None and sample.worker_count == 0
    assert sample.memory_total > 0  # the machine figures are still there


# -- PyTorch memory -----------------------------------------------------------------------------


def test_torch_memory_is_none_without_cuda_and_never_initialises_it() -> None:
    was_initialised = torch.cuda.is_initialized()
    assert read_torch_memory() is None or was_initialised
    assert read_torch_memory("cpu") is None
    assert read_torch_memory(torch.device("cpu")) is None
    assert torch.cuda.is_initialized() == was_initialised


def test_torch_memory_reads_the_allocator(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []

    def stat(value: int):  # type: ignore[no-untyped-def]
        def read(index: int) -> int:
            calls.append(index)
            return value

        return read

    monkeypatch.setattr(torch.cuda, "is_initialized", lambda: True)
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 0)
    monkeypatch.setattr(torch.cuda, "memory_allocated", stat(100))
    monkeypatch.setattr(torch.cuda, "memory_reserved", stat(200))
    monkeypatch.setattr(torch.cuda, "max_memory_allocated", stat(150))

    assert read_torch_memory() == TorchMemorySample("cuda:0", 100, 200, 150)
    assert read_torch_memory("cuda:1") == TorchMemorySample("cuda:1", 100, 200, 150)
    assert read_torch_memory(2) == TorchMemorySample("cuda:2", 100, 200, 150)
    assert read_torch_memory("cpu") is None
    assert calls == [0, 0, 0, 1, 1, 1, 2, 2, 2]

    def broken(index: int) -> int:
        raise RuntimeError("CUDA error: device-side assert")

    monkeypatch.setattr(torch.cuda, "memory_reserved", broken)
    assert read_torch_memory("cuda:0") is None


def test_torch_memory_without_torch_imported(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delitem(sys.modules, "torch")
    assert torch_memory.read_torch_memory("cuda:0") is None


# -- imports ------------------------------------------------------------------------------------


def test_telemetry_imports_no_ui_and_no_torch() -> None:
    code = (
        "import sys, tui_trainer.telemetry, tui_trainer.telemetry.table\n"
        "bad = sorted({'textual', 'rich', 'tqdm', 'torch'} & set(sys.modules))\n"
        "print(','.join(bad))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert result.stdout.strip() == ""
