"""Which file a PRESET argument means (the listing is `config/preset_list.py`).

One order, used by `run`, `check`, the console and the `presets` listing alike:

1. an explicit path: an argument ending in `.yaml`/`.yml` or containing a `/` is a file path
   (`./name` reaches a file without a suffix); it must be a regular, non-empty file;
2. `./presets/NAME.yaml` (or `.yml`) in the working directory: a local preset, so an edited copy
   of a bundled preset wins over it;
3. the bundled `NAME.yaml` that ships with the package.

A bare name is never looked up as a file in the working directory, so a folder or a stray file
called `quickstart` there cannot shadow the preset. A candidate in step 2 that is a directory or
an empty file is refused with its path (it would otherwise hide the bundled preset).
"""

from __future__ import annotations

import difflib
import os
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from tui_trainer.errors import UserError

PRESET_SUFFIXES = (".yaml", ".yml")


@dataclass(frozen=True)
class PresetInfo:
    """A preset found on disk: its name, file and one-line description.

    `problem` says why it cannot be used (unreadable, not UTF-8, invalid YAML, empty); a
    broken preset is still listed so that `tui-trainer presets` shows why. `shadows` is the
    bundled file a local preset of the same name replaces.
    """

    name: str
    path: Path
    description: str
    bundled: bool
    problem: str | None = None
    shadows: Path | None = None


@dataclass(frozen=True)
class PresetSource:
    """The file a PRESET argument resolved to and how: "path", "local" or "bundled"."""

    path: Path
    origin: str

    def describe(self) -> str:
        """`presets/quickstart.yaml (local)`, for the start line of `run` and `check`."""
        return f"{self.path} ({self.origin})"


def bundled_presets_dir() -> Path:
    """The folder of presets that ship inside the package (works after a plain pip install)."""
    return Path(str(resources.files("tui_trainer") / "presets"))


def local_presets_dir() -> Path:
    """`./presets/` in the working directory."""
    return Path("presets")


def is_path_argument(preset: str) -> bool:
    """Whether a PRESET argument is a file path (step 1) rather than a name."""
    return preset.endswith(PRESET_SUFFIXES) or "/" in preset or os.sep in preset


def _candidates(folder: Path, name: str) -> list[Path]:
    return [folder / f"{name}{suffix}" for suffix in PRESET_SUFFIXES]


def check_preset_file(path: Path, label: str | None = None) -> None:
    """Refuse what cannot be a preset: missing, a directory, not a regular file, empty."""
    shown = label or str(path)
    if not path.exists():
        raise UserError("preset file not found", location=shown)
    if path.is_dir():
        raise UserError("is a directory, expected a preset YAML file", location=shown)
    if not path.is_file():
        raise UserError("not a regular file, expected a preset YAML file", location=shown)
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise UserError(f"cannot read preset: {exc.strerror or exc}", location=shown) from None
    if size == 0:
        raise UserError(
            "empty preset file (an empty preset would run all defaults)", location=shown
        )


def find_preset(preset: str) -> PresetSource:
    """Resolve a PRESET argument to its file, in the documented order (see module docstring)."""
    if not preset.strip():
        raise UserError("PRESET: empty name; give a preset name or a YAML path")
    if is_path_argument(preset):
        path = Path(preset)
        check_preset_file(path)
        return PresetSource(path, "path")
    for origin, folder in (("local", local_presets_dir()), ("bundled", bundled_presets_dir())):
        for path in _candidates(folder, preset):
            if path.exists() or path.is_symlink():
                if origin == "local":
                    check_preset_file(path, f"{path} (local preset '{preset}')")
                else:
                    check_preset_file(path)
                return PresetSource(path, origin)
    names = sorted({*scan_presets(bundled_presets_dir()), *scan_presets(local_presets_dir())})
    hint = difflib.get_close_matches(preset, names, n=1, cutoff=0.75)
    suggestion = f" (did you mean '{hint[0]}'?)" if hint else f"; known presets: {', '.join(names)}"
    here = Path(preset)
    if here.is_file():
        suggestion += f"; to use the file '{preset}' here, give it as ./{preset}"
    raise UserError(f"{preset}: no such preset{suggestion}")


def resolve_preset(preset: str) -> Path:
    """The file a PRESET argument (a YAML path or a local/bundled preset name) resolves to."""
    return find_preset(preset).path


def scan_presets(folder: Path) -> dict[str, Path]:
    """NAME → file for the presets in `folder` (`.yaml` before `.yml`, as `find_preset`)."""
    found: dict[str, Path] = {}
    try:
        entries = [p for p in folder.iterdir() if p.suffix in PRESET_SUFFIXES]
    except OSError:
        return found
    for path in sorted(entries, key=lambda p: (p.stem, PRESET_SUFFIXES.index(p.suffix))):
        if not path.name.startswith("."):
            found.setdefault(path.stem, path)
    return found
