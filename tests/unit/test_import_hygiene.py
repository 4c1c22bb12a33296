"""Import boundaries: the engine and headless path load no UI, config loads no torch, and the
architecture contracts in pyproject.toml ([tool.importlinter]) hold."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "tui_trainer"
LINT_IMPORTS = shutil.which("lint-imports") or "lint-imports"  # import-linter, a dev dependency


def loaded_after(imports: str, watched: tuple[str, ...]) -> list[str]:
    """Which of `watched` a fresh interpreter has loaded after `imports`."""
    code = f"import sys\n{imports}\nprint(sorted(m for m in {watched!r} if m in sys.modules))\n"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return eval(out.stdout.strip())


def test_headless_modules_load_without_textual():
    imports = (
        "import tui_trainer.session, tui_trainer.engine.loop, tui_trainer.engine.data\n"
        "import tui_trainer.telemetry, tui_trainer.headless, tui_trainer.cli"
    )
    assert loaded_after(imports, ("textual",)) == []


def test_no_ui_imports_outside_the_tui_package():
    """rich arrives with scikit-learn at run time; our own code outside tui/ never imports it."""
    pattern = re.compile(r"^\s*(from|import)\s+(textual|rich|tqdm)\b", re.MULTILINE)
    allowed = {PACKAGE / "sinks" / "console.py"}  # the headless console sink draws tqdm bars
    offenders = [
        str(path.relative_to(PACKAGE))
        for path in PACKAGE.rglob("*.py")
        if "tui" not in path.relative_to(PACKAGE).parts[:1]
        and path not in allowed
        and pattern.search(path.read_text())
    ]
    assert offenders == []


def test_config_and_the_setup_form_load_no_torch():
    """The setup form validates on every key press: it must not pay for torch."""
    imports = (
        "import tui_trainer.config, tui_trainer.config.checks, tui_trainer.config.tasks\n"
        "import tui_trainer.tui.form"
    )
    assert loaded_after(imports, ("torch", "torchvision", "tui_trainer.engine")) == []


def test_architecture_contracts_hold():
    """`lint-imports` checks the contracts (config → no engine/torch; engine → no UI; the TUI
    reaches the engine only through events, control and the session)."""
    out = subprocess.run(
        [LINT_IMPORTS, "--config", str(ROOT / "pyproject.toml")],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert "0 broken" in out.stdout
