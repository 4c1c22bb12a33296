"""bf16 honesty on CPUs: detected from the CPU's flags, its cost measured and reported."""

from __future__ import annotations

import torch

from tui_trainer import cpu_features
from tui_trainer.cli import main
from tui_trainer.config import load_config
from tui_trainer.engine import cpu_bf16
from tui_trainer.engine.device import resolve_runtime

EPYC_AVX2 = "processor\t: 0\nflags\t\t: fpu sse2 avx avx2 fma\n"
SAPPHIRE = "processor\t: 0\nflags\t\t: avx2 avx512f avx512_bf16 amx_bf16 amx_tile\n"
GRAVITON3 = "processor\t: 0\nFeatures\t: fp asimd sve bf16 i8mm\n"


def test_native_bf16_is_read_from_the_cpu_flags():
    assert cpu_features.native_cpu_bf16(EPYC_AVX2) is False
    assert cpu_features.native_cpu_bf16(SAPPHIRE) is True
    assert cpu_features.native_cpu_bf16(GRAVITON3) is True
    assert cpu_features.native_cpu_bf16("no flags here") is None


def test_an_emulated_bf16_run_warns_with_the_measured_cost(monkeypatch):
    monkeypatch.setattr(cpu_bf16, "native_cpu_bf16", lambda: False)
    monkeypatch.setattr(cpu_bf16, "measured_slowdown", lambda: 5.2)
    config, _ = load_config("quickstart", ["device=cpu", "precision=bf16"])
    resolved, _, warnings = resolve_runtime(config)
    assert resolved.precision == "bf16" and resolved.notes == []  # runs as asked
    assert any("emulates it: measured 5.2x slower than fp32" in w for w in warnings), warnings
    monkeypatch.setattr(cpu_bf16, "native_cpu_bf16", lambda: True)
    monkeypatch.setattr(cpu_bf16, "measured_slowdown", lambda: 0.6)
    assert resolve_runtime(config)[2] == []  # native and faster: nothing to say


def test_the_measurement_is_bf16_time_over_fp32_time(monkeypatch):
    dtypes = []

    def fake_seconds(dtype, x, w, repeat):
        dtypes.append(dtype)
        return 0.5 if dtype is torch.bfloat16 else 0.1

    monkeypatch.setattr(cpu_bf16, "_seconds", fake_seconds)
    assert cpu_bf16.measured_slowdown() == 5.0
    assert set(dtypes) == {None, torch.bfloat16}  # both paths ran (warm-up included)
    assert cpu_bf16.bf16_warning(torch.device("cuda")) is None


def test_check_says_what_precision_will_really_run(monkeypatch, capsys):
    monkeypatch.setattr(cpu_features, "nvidia_driver_present", lambda: False)
    monkeypatch.setattr(cpu_features, "native_cpu_bf16", lambda: False)
    assert main(["check", "quickstart", "precision=bf16"]) == 0
    assert "precision bf16 on this CPU is emulated" in capsys.readouterr().out
    assert main(["check", "quickstart", "precision=fp16", "device=cpu"]) == 0
    assert "on this machine's CPU the run uses fp32" in capsys.readouterr().out
    monkeypatch.setattr(cpu_features, "native_cpu_bf16", lambda: True)
    assert main(["check", "quickstart", "precision=bf16"]) == 0
    assert "emulated" not in capsys.readouterr().out
