"""GPU telemetry against a fake NVML: the reader, the sampler and the ``tui-trainer gpus`` table."""

from __future__ import annotations

import dataclasses
import io
import os
import threading
import time

import pynvml
import pytest
from support.fake_nvml import (
    GIB,
    GRAPHICS_PID,
    OTHER_PID,
    FakeGpu,
    FakeNvml,
    StaticHostReader,
    fake_sampler,
    two_gpus,
)

from tui_trainer.telemetry import gpu as gpu_module
from tui_trainer.telemetry.gpu import GpuSnapshot, NvmlReader, NvmlSession
from tui_trainer.telemetry.sampler import Sampler, TelemetrySnapshot
from tui_trainer.telemetry.table import format_table, print_table, watch_table
from tui_trainer.telemetry.torch_memory import TorchMemorySample

# -- reader -------------------------------------------------------------------------------------


def test_reads_every_field_of_two_gpus(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeNvml(two_gpus()).install(monkeypatch)
    snap = fake.reader().read()

    assert snap.available and snap.reason is None
    assert (snap.driver_version, snap.cuda_version) == ("550.54.15", "12.4")
    g0, g1 = snap.gpus
    assert (g0.index, g0.name, g0.lost) == (0, "NVIDIA A100-SXM4-80GB", False)
    assert (g0.utilization, g0.memory_utilization) == (97, 45)
    assert (g0.memory_used, g0.memory_total, g0.memory_fraction) == (40 * GIB, 80 * GIB, 0.5)
    assert (g0.temperature, g0.power_draw, g0.power_limit) == (65, 312.0, 400.0)
    assert (g0.fan_speed, g0.pstate, g0.sm_clock) == (30, 0, 1410)
    assert (g1.index, g1.name, g1.utilization, g1.pstate) == (1, "NVIDIA GeForce RTX 4090", 12, 8)


def test_unsupported_fields_are_none_per_device(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeNvml(two_gpus()).install(monkeypatch)
    fake.gpus[1].unsupported |= {"temperature", "sm_clock", "pstate", "utilization", "memory"}
    g0, g1 = fake.reader().read().gpus

    assert g1.fan_speed is None and g1.power_draw is None and g1.power_limit is None
    assert g1.temperature is None and g1.sm_clock is None and g1.pstate is None
    assert g1.utilization is None and g1.memory_used is None and g1.memory_fraction is None
    assert not g1.lost and g1.name == "NVIDIA GeForce RTX 4090"
    assert g0.fan_speed == 30 and g0.power_draw == 312.0  # the other GPU is unaffected


def test_unexpected_errors_in_a_field_read_as_na(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeNvml([FakeGpu()]).install(monkeypatch)

    def broken(handle: int) -> int:
        raise RuntimeError("driver returned garbage")

    monkeypatch.setattr(pynvml, "nvmlDeviceGetFanSpeed", broken)
    (g0,) = fake.reader().read().gpus
    assert g0.fan_speed is None and g0.temperature == 65


def test_unknown_pstate_and_cuda_version_encoding(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeNvml([FakeGpu(pstate=32)], cuda=11080).install(monkeypatch)
    snap = fake.reader().read()
    assert snap.gpus[0].pstate is None
    assert snap.cuda_version == "11.8"


def test_processes_mark_this_run_and_merge_compute_and_graphics(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    gpus = two_gpus()
    gpus[0].graphics.append((OTHER_PID, 1 * GIB))  # OTHER_PID is both compute and graphics
    fake = FakeNvml(gpus).install(monkeypatch)
    procs = fake.reader().read().gpus[0].processes

    assert [p.pid for p in procs] == [os.getpid(), OTHER_PID, GRAPHICS_PID]  # ours first
    ours, other, graphics = procs
    assert ours.is_self and not other.is_self and not graphics.is_self
    assert ours.used_memory == 2 * GIB and ours.kind == "C"
    assert other.kind == "C+G" and other.used_memory == 6 * GIB
    assert graphics.used_memory is None and graphics.kind == "G"
    # Names: psutil for a visible PID, NVML's process path otherwise.
    assert ours.name and "worker-" not in ours.name
    assert other.name == f"worker-{OTHER_PID}"


def test_gpu_lost_mid_run_is_marked_and_others_keep_updating(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fake = FakeNvml(two_gpus()).install(monkeypatch)
    reader = fake.reader()
    assert not any(g.lost for g in reader.read().gpus)

    fake.gpus[1].lost = True
    fake.gpus[0].utilization = 55
    g0, g1 = reader.read().gpus
    assert g1.lost and g1.name == "NVIDIA GeForce RTX 4090" and "lost" in (g1.lost_reason or "")
    assert g1.utilization is None and g1.processes == ()
    assert not g0.lost and g0.utilization == 55

    # A lost GPU stays lost (no more NVML calls on it); the other still updates.
    calls_before = fake.calls["utilization"]
    fake.gpus[0].utilization = 60
    g0, g1 = reader.read().gpus
    assert g1.lost and g0.utilization == 60
    assert fake.calls["utilization"] == calls_before + 1


def test_gpu_lost_before_discovery(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeNvml(two_gpus()).install(monkeypatch)
    fake.gpus[0].lost = True
    g0, g1 = fake.reader().read().gpus
    assert g0.lost and g0.name == "unknown GPU"
    assert not g1.lost and g1.utilization == 12


def test_slow_fields_are_read_once_and_power_limit_rarely(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeNvml(two_gpus()).install(monkeypatch)
    now = [0.0]
    reader = NvmlReader(session=NvmlSession(), static_refresh_s=60.0, clock=lambda: now[0])
    for _ in range(5):
        now[0] += 1.0
        reader.read()
    assert fake.calls["nvmlInit"] == 1
    assert fake.calls["count"] == 1 and fake.calls["driver"] == 1 and fake.calls["cuda"] == 1
    assert fake.calls["name"] == 2 and fake.calls["uuid"] == 2  # once per GPU
    assert fake.calls["utilization"] == 10  # every sample, every GPU
    assert fake.calls["power_limit"] == 2  # once per GPU (GPU 1 does not support it: tried once)

    fake.gpus[0].power_limit_mw = 350_000
    assert reader.read().gpus[0].power_limit == 400.0  # cached
    now[0] += 60.0
    assert reader.read().gpus[0].power_limit == 350.0  # refreshed


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        (pynvml.NVML_ERROR_LIBRARY_NOT_FOUND, "no NVIDIA driver installed"),
        (pynvml.NVML_ERROR_DRIVER_NOT_LOADED, "NVIDIA driver not loaded"),
        (pynvml.NVML_ERROR_NO_PERMISSION, "no permission"),
        (pynvml.NVML_ERROR_UNKNOWN, "NVML failed to start"),
    ],
)
def test_no_gpu_reasons(monkeypatch: pytest.MonkeyPatch, code: int, expected: str) -> None:
    fake = FakeNvml(init_error=code).install(monkeypatch)
    reader = fake.reader()
    snap = reader.read()
    assert not snap.available and snap.gpus == ()
    assert expected in (snap.reason or "")
    reader.read()
    assert fake.calls["nvmlInit"] == 1  # a failed start is remembered, not retried every second


def test_driver_with_zero_devices(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeNvml(gpus=[]).install(monkeypatch)
    snap = fake.reader().read()
    assert not snap.available and "no NVIDIA GPU found" in (snap.reason or "")
    assert snap.driver_version == "550.54.15"


def test_reader_never_raises(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeNvml(two_gpus()).install(monkeypatch)

    def explode() -> int:
        raise RuntimeError("boom")

    monkeypatch.setattr(pynvml, "nvmlDeviceGetCount", explode)
    snap = fake.reader().read()
    assert not snap.available and "boom" in (snap.reason or "")


def test_session_starts_once_and_shuts_down_at_exit(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeNvml(two_gpus()).install(monkeypatch)
    registered = []
    monkeypatch.setattr(gpu_module.atexit, "register", registered.append)
    session = NvmlSession()
    first, second = NvmlReader(session=session), NvmlReader(session=session)
    first.read()
    second.read()
    assert fake.calls["nvmlInit"] == 1 and session.active
    assert registered == [session.shutdown]

    registered[0]()  # what the interpreter does at exit
    session.shutdown()
    assert fake.calls["nvmlShutdown"] == 1 and not session.active
    snap = first.read()  # a sampler thread still running at exit does not start NVML again
    assert not snap.available and snap.reason == "NVML session closed"
    assert fake.calls["nvmlInit"] == 1


def test_default_session_is_shared() -> None:
    assert NvmlReader()._session is gpu_module.default_session()


# -- sampler ------------------------------------------------------------------------------------


def _wait_for(predicate, timeout: float = 3.0) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return False


def test_sampler_thread_publishes_snapshots_and_stops(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeNvml(two_gpus()).install(monkeypatch)
    sampler = fake_sampler(fake, interval=0.02)
    assert sampler.latest() is None
    sampler.start()
    try:
        assert sampler.running and sampler._thread is not None and sampler._thread.daemon
        assert _wait_for(lambda: (s := sampler.latest()) is not None and s.sequence >= 3)
    finally:
        sampler.stop()
    assert not sampler.running
    last = sampler.latest()
    assert last is not None
    time.sleep(0.06)
    assert sampler.latest() is last  # nothing samples after stop
    sampler.stop()  # idempotent


def test_snapshot_is_immutable_and_histories_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeNvml(two_gpus()).install(monkeypatch)
    sampler = fake_sampler(fake, history=5)
    for value in range(8):
        fake.gpus[0].utilization = value * 10
        snap = sampler.sample_now()
    assert snap.sequence == 8
    assert snap.history_for(0).utilization == (30.0, 40.0, 50.0, 60.0, 70.0)
    assert snap.history_for(1).memory_used_percent == pytest.approx((100 / 24,) * 5)
    assert snap.cpu_history == (42.0,) * 5
    assert snap.history_for(7).utilization == ()
    with pytest.raises(dataclasses.FrozenInstanceError):
        snap.sequence = 0  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        snap.gpu.gpus[0].utilization = 1  # type: ignore[misc]
    assert isinstance(snap.gpu.gpus, tuple) and isinstance(snap.gpu_history[0].utilization, tuple)


def test_lost_gpu_history_stops_while_others_grow(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeNvml(two_gpus()).install(monkeypatch)
    sampler = fake_sampler(fake)
    sampler.sample_now()
    fake.gpus[1].lost = True
    sampler.sample_now()
    snap = sampler.sample_now()
    assert len(snap.history_for(0).utilization) == 3
    assert len(snap.history_for(1).utilization) == 1
    assert snap.gpu.gpus[1].lost


def test_sampler_survives_failing_readers() -> None:
    class Broken:
        def read(self) -> GpuSnapshot:
            raise RuntimeError("nvml exploded")

    class BrokenHost:
        def read(self) -> object:
            raise OSError("no /proc")

    def broken_torch(device: object) -> TorchMemorySample | None:
        raise RuntimeError("torch exploded")

    sampler = Sampler(
        interval=0.01, gpu_reader=Broken(), host_reader=BrokenHost(), torch_reader=broken_torch
    )
    snap = sampler.sample_now()
    assert not snap.gpu.available and "nvml exploded" in (snap.gpu.reason or "")
    assert snap.host is None and snap.torch_memory is None
    assert sampler.error_count == 3 and "torch exploded" in (sampler.last_error or "")
    sampler.start()
    try:
        assert _wait_for(lambda: sampler.error_count >= 9)  # the thread keeps going
        assert sampler.running
    finally:
        sampler.stop()


def test_sampler_reads_torch_memory_for_the_chosen_device(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeNvml(two_gpus()).install(monkeypatch)
    seen = []

    def torch_reader(device: object) -> TorchMemorySample | None:
        seen.append(device)
        return None if device is None else TorchMemorySample(str(device), 1, 2, 3)

    sampler = Sampler(
        gpu_reader=fake.reader(), host_reader=StaticHostReader(), torch_reader=torch_reader
    )
    assert sampler.sample_now().torch_memory is None
    sampler.torch_device = "cuda:1"
    assert sampler.sample_now().torch_memory == TorchMemorySample("cuda:1", 1, 2, 3)
    assert seen == [None, "cuda:1"]


def test_sampler_rejects_bad_settings() -> None:
    with pytest.raises(ValueError):
        Sampler(interval=0)
    with pytest.raises(ValueError):
        Sampler(history=0)


def test_latest_does_not_wait_for_a_slow_sample(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeNvml(two_gpus()).install(monkeypatch)
    release = threading.Event()
    inside = threading.Event()

    class SlowHost(StaticHostReader):
        def read(self):  # type: ignore[no-untyped-def]
            inside.set()
            release.wait(2)
            return super().read()

    sampler = Sampler(interval=0.01, gpu_reader=fake.reader(), host_reader=SlowHost())
    sampler.start()
    try:
        assert inside.wait(2)
        started = time.perf_counter()
        sampler.latest()
        assert time.perf_counter() - started < 0.05
    finally:
        release.set()
        sampler.stop()


# -- table (tui-trainer gpus) -------------------------------------------------------------------


def _snapshot(monkeypatch: pytest.MonkeyPatch, fake: FakeNvml) -> TelemetrySnapshot:
    fake.install(monkeypatch)
    return fake_sampler(fake).sample_now()


def test_table_two_gpus_fits_80_columns(monkeypatch: pytest.MonkeyPatch) -> None:
    text = format_table(_snapshot(monkeypatch, FakeNvml(two_gpus())))
    lines = text.splitlines()
    assert max(len(line) for line in lines) <= 80
    assert lines[0].startswith("Driver 550.54.15   CUDA 12.4   2 GPUs")
    row0 = next(line for line in lines if line.startswith("  0 "))
    row1 = next(line for line in lines if line.startswith("  1 "))
    for value in ("A100-SXM4-80GB", "97%", "45%", "40.0/80.0 GiB", "65C", "312/400 W", "P0"):
        assert value in row0
    assert row0.split()[-2:] == ["P0", "1410"]
    assert row1.count("N/A") == 2 and "GeForce RTX 4090" in row1  # power and fan
    assert f"{os.getpid()} C" in text and "(this run)" in text
    assert f"worker-{GRAPHICS_PID}" in text
    assert "Host: CPU 42% of 8 cores   RAM 12.0/32.0 GiB (38%)" in text


def test_table_lost_gpu_and_wide_names(monkeypatch: pytest.MonkeyPatch) -> None:
    gpus = two_gpus()
    gpus[0].name = "NVIDIA RTX 6000 Ada Generation"
    fake = FakeNvml(gpus).install(monkeypatch)
    sampler = fake_sampler(fake)
    sampler.sample_now()
    gpus[1].lost = True
    snap = sampler.sample_now()
    narrow = format_table(snap)
    assert "  1 GeForce RTX 4090 GPU LOST (GPU is lost)" in narrow
    assert "RTX 6000 Ada Ge~" in narrow  # cut to fit 80 columns
    wide = format_table(snap, width=120)
    assert "NVIDIA RTX 6000 Ada Generation" in wide
    assert max(len(line) for line in wide.splitlines()) <= 120


def test_table_without_gpu_says_why_and_shows_host(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeNvml(init_error=pynvml.NVML_ERROR_LIBRARY_NOT_FOUND)
    lines = format_table(_snapshot(monkeypatch, fake)).splitlines()
    assert lines[0] == "No NVIDIA GPU: no NVIDIA driver installed (libnvidia-ml.so.1 not found)"
    assert any(line.startswith("Host: CPU 42% of 8 cores") for line in lines)
    assert max(len(line) for line in lines) <= 80


def test_table_shows_torch_memory_line(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeNvml(two_gpus()).install(monkeypatch)
    sampler = Sampler(
        gpu_reader=fake.reader(),
        host_reader=StaticHostReader(),
        torch_reader=lambda device: TorchMemorySample("cuda:0", GIB, 2 * GIB, 3 * GIB // 2),
    )
    text = format_table(sampler.sample_now())
    assert "PyTorch cuda:0: allocated 1.0 GiB   reserved 2.0 GiB   peak 1.5 GiB" in text


def test_print_gpus_once(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeNvml(two_gpus()).install(monkeypatch)
    monkeypatch.setattr("tui_trainer.telemetry.table.PRIME_SECONDS", 0.0)
    out = io.StringIO()
    assert print_table(out, sampler=fake_sampler(fake)) == 0
    assert out.getvalue().count("A100-SXM4-80GB") == 1


def test_watch_redraws_and_exits_0_on_ctrl_c(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeNvml(two_gpus()).install(monkeypatch)
    monkeypatch.setattr("tui_trainer.telemetry.table.PRIME_SECONDS", 0.0)
    out = io.StringIO()
    assert (
        watch_table(0.5, out=out, sampler=fake_sampler(fake), iterations=3, sleep=lambda s: None)
        == 0
    )
    assert out.getvalue().count("Driver 550.54.15") == 3
    assert "\x1b[2J" not in out.getvalue()  # not a terminal: no screen clearing

    sleeps = []

    def interrupted(seconds: float) -> None:
        sleeps.append(seconds)
        if len(sleeps) == 2:
            raise KeyboardInterrupt

    out = io.StringIO()
    assert watch_table(0.5, out=out, sampler=fake_sampler(fake), sleep=interrupted) == 0
    assert out.getvalue().count("Driver 550.54.15") == 2 and sleeps == [0.5, 0.5]


def test_watch_redraws_in_place_on_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    fake = FakeNvml(two_gpus()).install(monkeypatch)
    monkeypatch.setattr("tui_trainer.telemetry.table.PRIME_SECONDS", 0.0)
    monkeypatch.setenv("COLUMNS", "100")
    out = Terminal()
    watch_table(1.0, out=out, sampler=fake_sampler(fake), iterations=2, sleep=lambda s: None)
    first, second = out.getvalue().split("\x1b[J")[:2]
    assert first.startswith("\x1b[H\x1b[2J") and second.startswith("\x1b[H")
    assert "\x1b[2J" not in second  # no full clear (flicker) after the first frame
    assert "NVIDIA A100-SXM4-80GB" in second  # the terminal is 100 wide: full names fit


# -- a real GPU ---------------------------------------------------------------------------------


def _nvml_works() -> bool:
    try:
        pynvml.nvmlInit()
    except Exception:
        return False
    pynvml.nvmlShutdown()
    return True


@pytest.mark.gpu
@pytest.mark.skipif(not _nvml_works(), reason="no NVIDIA GPU / driver here")
def test_real_gpu_reading() -> None:
    sampler = Sampler()
    snap = sampler.sample_now()
    assert snap.gpu.available, snap.gpu.reason
    assert snap.gpu.driver_version and snap.gpu.cuda_version
    for sample in snap.gpu.gpus:
        assert sample.name and not sample.lost
        assert sample.memory_total and sample.memory_total > 0
    text = format_table(snap)
    assert "Driver" in text and max(len(line) for line in text.splitlines()) <= 80
