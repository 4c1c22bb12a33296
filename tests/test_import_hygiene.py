"""The engine and the headless path never load the UI library."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "tui_trainer"


def test_headless_modules_load_without_textual():
    code = (
        "import sys\n"
        "import tui_trainer.session, tui_trainer.engine.trainer, tui_trainer.engine.data\n"
        "import tui_trainer.telemetry\n"
        "import tui_trainer.headless, tui_trainer.cli\n"
        "print('textual' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"


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
