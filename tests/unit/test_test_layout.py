"""The tests' own layout (tests/README.md): helpers come from `tests/support/`, never from
`conftest` or a bare top-level module, so a test reads the same wherever it is run from."""

from __future__ import annotations

import re
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]
SUPPORT = sorted(p.stem for p in (TESTS / "support").glob("*.py") if p.stem != "__init__")
BARE = re.compile(rf"^\s*(from|import)\s+(conftest|{'|'.join(SUPPORT)})\b", re.MULTILINE)


def test_support_holds_the_helpers() -> None:
    assert {"runs", "cli", "procs", "scripted", "pilot"} <= set(SUPPORT)
    assert not [p.name for p in TESTS.glob("*.py") if p.name != "conftest.py"]


def test_no_test_imports_a_helper_by_a_bare_name() -> None:
    found = [
        f"{path.relative_to(TESTS)}: {m.group(0).strip()}"
        for path in sorted(TESTS.rglob("*.py"))
        for m in BARE.finditer(path.read_text(encoding="utf-8"))
    ]
    assert not found, "import helpers as `from support.X import ...`:\n" + "\n".join(found)
