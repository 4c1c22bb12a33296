"""The console's small memory between launches: the last preset a run was started with.

Kept in ``$XDG_STATE_HOME/tui-trainer/console.json`` (``~/.local/state/tui-trainer/`` when the
variable is unset), written atomically. It is a convenience: a missing, unreadable or broken file
means "nothing remembered", and a state folder that cannot be written never stops a run.
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path

from tui_trainer.atomic import atomic_write_text

STATE_FILE = "console.json"
DEFAULT_PRESET = "quickstart"
"""Selected on the very first launch: it runs anywhere, on data inside scikit-learn."""


def state_dir() -> Path:
    """Where the console keeps its state (XDG base directory rules)."""
    base = os.environ.get("XDG_STATE_HOME", "").strip()
    root = Path(base) if base and Path(base).is_absolute() else Path.home() / ".local" / "state"
    return root / "tui-trainer"


def last_preset() -> str | None:
    """The preset (name or path) the last run started from, if one is remembered."""
    try:
        data = json.loads((state_dir() / STATE_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    value = data.get("last_preset") if isinstance(data, dict) else None
    return value if isinstance(value, str) and value else None


def remember_preset(preset: str) -> None:
    """Remember `preset` as the last one used (silently skipped when the folder is not writable)."""
    if not preset:
        return
    folder = state_dir()
    with contextlib.suppress(OSError):
        folder.mkdir(parents=True, exist_ok=True)
        text = json.dumps({"last_preset": preset}, indent=2) + "\n"
        atomic_write_text(folder / STATE_FILE, text)
