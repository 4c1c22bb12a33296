"""The package type-checks: `mypy` with the settings in pyproject.toml ([tool.mypy]) passes, and
every `# type: ignore` left in it names its error code and says why it is there."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "tui_trainer"
IGNORE = re.compile(r"#\s*type:\s*ignore(?P<code>\[[a-z-]+(?:,\s*[a-z-]+)*\])?(?P<rest>.*)$")


def test_mypy_passes_over_the_package():
    """A minute from a cold cache (.mypy_cache, kept between runs), seconds from a warm one."""
    pytest.importorskip("mypy", reason="mypy is not installed (pip install -e '.[dev]')")
    out = subprocess.run(
        [sys.executable, "-m", "mypy", "--config-file", str(ROOT / "pyproject.toml")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert out.returncode == 0, out.stdout + out.stderr


def test_every_type_ignore_names_its_code_and_its_reason():
    """`# type: ignore[code]  # why`, or the why in a comment on the line above."""
    bad = []
    for path in sorted(PACKAGE.rglob("*.py")):
        lines = path.read_text(encoding="utf-8").splitlines()
        for number, line in enumerate(lines, start=1):
            found = IGNORE.search(line)
            if found is None:
                continue
            reason_after = found["rest"].strip().lstrip("#").strip()
            reason_above = number > 1 and lines[number - 2].strip().startswith("#")
            if not found["code"] or not (reason_after or reason_above):
                bad.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert bad == []
