"""Each command imports only what it needs: the import set of every command, run in a fresh
process (tests/support/import_probe.py), is held to an allow list, so the test fails when a
command's import set grows (module lists, not seconds; benchmarks/bench_startup.py has the seconds).

Third-party packages are compared by top-level name, after removing what the bare interpreter
already has (site hooks); for `run`, after removing what a bare PyTorch training step itself
imports (torch.optim's first step loads torch._dynamo, which brings sympy and triton), so the
list does not depend on the torch build.
"""

from __future__ import annotations

import json
import subprocess
import sys
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PROBE = ROOT / "tests" / "support" / "import_probe.py"
EPOCH_LINE = r"^epoch 1/1 +train_loss"
CONFIG_LIBS = {"yaml", "pydantic", "pydantic_core", "annotated_types", "typing_extensions"}
CONFIG_LIBS |= {"typing_inspection"}
HEAVY = {"torch", "torchvision", "torchmetrics", "sklearn", "scipy", "textual", "rich", "numpy"}
BARE_STEP = (
    "import json, sys, torch\n"
    "net = torch.nn.Linear(4, 2)\n"
    "opt = torch.optim.SGD(net.parameters(), lr=0.1)\n"
    "net(torch.randn(3, 4)).sum().backward()\n"
    "opt.step()\n"
    "print(json.dumps(sorted(sys.modules)))\n"
)


def _modules_of(code: str) -> set[str]:
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=True
    )
    return set(json.loads(out.stdout))


@cache
def interpreter_modules() -> frozenset[str]:
    """What a bare interpreter has loaded (site hooks, .pth files)."""
    return frozenset(_modules_of("import json, sys; print(json.dumps(sorted(sys.modules)))"))


@cache
def bare_step_modules() -> frozenset[str]:
    """What `import torch` plus one SGD step loads."""
    return frozenset(_modules_of(BARE_STEP))


def probe(tmp_path: Path, *argv: str, until: str | None = None) -> set[str]:
    """The modules `tui-trainer ARGV...` had loaded when it returned (or at line `until`)."""
    out = tmp_path / "modules.json"
    head = [str(out), *(["--until", until] if until else [])]
    done = subprocess.run(
        [sys.executable, str(PROBE), *head, "--", *argv],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return set(json.loads(out.read_text()))


def third_party(modules: set[str], baseline: frozenset[str]) -> set[str]:
    """Top-level names of the non-stdlib packages in `modules` that `baseline` lacks."""
    extra = tops(modules) - tops(baseline) - {"cython_runtime"}  # Cython's own
    return {m for m in extra if m not in sys.stdlib_module_names and not m.startswith("_")}


def tops(modules: set[str] | frozenset[str]) -> set[str]:
    """The top-level package names."""
    return {m.split(".")[0] for m in modules}


def ours(modules: set[str]) -> set[str]:
    """tui_trainer's subpackages and top modules that were loaded (`tui_trainer.engine`...)."""
    return {".".join(m.split(".")[:2]) for m in modules if m.startswith("tui_trainer.")}


COMMANDS = {
    # argv: allowed third-party packages
    ("--help",): {"yaml"},
    ("presets",): CONFIG_LIBS,
    ("check", "quickstart"): CONFIG_LIBS,
    ("gpus",): {"yaml", "psutil", "pynvml"},
    ("queue", "ls"): set(),  # the queue database and the runs' records: no config, no torch
}


@pytest.mark.parametrize("argv", list(COMMANDS), ids=" ".join)
def test_light_commands_import_only_their_own_libraries(tmp_path, argv):
    modules = probe(tmp_path, *argv)
    assert third_party(modules, interpreter_modules()) - {"tui_trainer"} <= COMMANDS[argv]
    assert not HEAVY & tops(modules)
    assert not ours(modules) & {"tui_trainer.session", "tui_trainer.tui"}
    # `check` plans the data split (which split, how many) with the engine's torch-free data
    # modules, the very functions a run uses; nothing else of the engine loads
    engine = {m for m in modules if m.startswith("tui_trainer.engine")}
    allowed = TORCH_FREE_PLANNING if argv[0] == "check" else set()
    assert engine <= allowed, sorted(engine - allowed)


TORCH_FREE_PLANNING = {
    "tui_trainer.engine",
    "tui_trainer.engine.data",
    "tui_trainer.engine.data.files",
    "tui_trainer.engine.data.split",
    "tui_trainer.engine.data.split_plan",
}


def test_gpus_never_imports_torch_even_to_report_memory(tmp_path):
    """(named separately: the GPU table is the command most tempted to import torch)"""
    assert "torch" not in probe(tmp_path, "gpus")


@pytest.mark.slow
def test_a_headless_run_imports_only_what_training_needs_until_its_first_epoch(tmp_path):
    """Up to the first epoch line, quickstart (digits read from scikit-learn's wheel, a small
    CNN) loads torch and no more: no scikit-learn/scipy, torchvision, torchmetrics or UI."""
    argv = ["run", "quickstart", "epochs=1", "device=cpu", "--out", str(tmp_path / "runs")]
    modules = probe(tmp_path, *argv, until=EPOCH_LINE)
    allowed = CONFIG_LIBS | {"tui_trainer", "PIL", "tqdm", "psutil", "pynvml"}
    assert third_party(modules, bare_step_modules()) <= allowed
    assert not tops(modules) & {
        "torchvision",
        "torchmetrics",
        "sklearn",
        "scipy",
        "textual",
        "rich",
    }
    assert not ours(modules) & {"tui_trainer.tui", "tui_trainer.compare"}
    assert {m for m in modules if m.startswith("tui_trainer.after.")} == {"tui_trainer.after.cli"}


@pytest.mark.slow
def test_a_whole_headless_run_never_imports_scikit_learn(tmp_path):
    """To its end (summary, per-class report, checkpoints): the report is numpy."""
    argv = ["run", "quickstart", "epochs=1", "device=cpu", "--out", str(tmp_path / "runs")]
    modules = probe(tmp_path, *argv)
    assert not tops(modules) & {"sklearn", "scipy", "torchvision", "torchmetrics", "textual"}
    assert "tui_trainer.engine.tasks.classification.class_report" in modules  # the report was made
