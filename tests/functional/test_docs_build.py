"""The documentation site builds with `mkdocs build --strict` (no warning: every page in the nav,
every link and anchor found, the snippet includes present), and its screenshots are what the
console draws today."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tools.docs import screenshots

ROOT = Path(__file__).resolve().parents[2]


def test_mkdocs_build_strict_passes(tmp_path: Path) -> None:
    pytest.importorskip("mkdocs", reason="mkdocs-material is in the dev and docs extras")
    pytest.importorskip("material", reason="mkdocs-material is in the dev and docs extras")
    site = tmp_path / "site"
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )
    assert done.returncode == 0, done.stderr
    assert "WARNING" not in done.stderr, done.stderr
    assert (site / "reference" / "config" / "index.html").is_file()
    changelog = (site / "changelog" / "index.html").read_text(encoding="utf-8")
    assert "Keep a Changelog" in changelog  # CHANGELOG.md included, not copied
    assert (site / "images" / "run.svg").is_file()


@pytest.mark.slow
def test_the_screenshots_are_current(tmp_path: Path) -> None:
    """Regenerated from the scripted runs, every picture equals the one in docs/images."""
    written = screenshots.write(tmp_path)
    stale = [
        path.name
        for path in written
        if not (ROOT / screenshots.IMAGES / path.name).is_file()
        or (ROOT / screenshots.IMAGES / path.name).read_bytes() != path.read_bytes()
    ]
    assert stale == [], (
        f"docs/images is out of date ({', '.join(stale)}): run `python -m tools.docs screenshots`"
    )
