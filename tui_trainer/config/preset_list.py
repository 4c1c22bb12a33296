"""The list `tui-trainer presets` and the console show: every preset a name can reach.

Each listed preset is validated as `run` would load it, so a preset listed without a problem is
one that loads. Which file a name means lives in `config/resolve.py`; this module only lists.
"""

from __future__ import annotations

from pathlib import Path

from tui_trainer.config.loader import load_config
from tui_trainer.config.resolve import (
    PresetInfo,
    bundled_presets_dir,
    check_preset_file,
    local_presets_dir,
    scan_presets,
)
from tui_trainer.config.yaml_safe import load_yaml_file
from tui_trainer.errors import UserError


def _reason(exc: UserError, path: Path) -> str:
    """A UserError about `path` without the path: `line 3: optim.lr: expected a number`."""
    text = str(exc)
    rest = text.removeprefix(str(path))
    if rest == text:
        return text
    line, sep, after = rest.removeprefix(":").partition(": ")
    return f"line {line}: {after}" if sep and line.isdigit() else rest.lstrip(": ")


def _inspect(path: Path) -> tuple[str, str | None]:
    """A preset file's one-line description and, when it cannot be used, why.

    The preset is validated as `run` would load it (unknown keys, bad values, rules between
    keys), so a listed preset without a problem is one that loads.
    """
    try:
        check_preset_file(path)
        data = load_yaml_file(path).data
    except UserError as exc:
        return "", _reason(exc, path)
    if data is None:
        return "", "empty preset (comments only)"
    if not isinstance(data, dict):
        return "", f"expected a mapping of config keys, got {type(data).__name__}"
    text = data.get("description")
    description = text.strip().splitlines()[0] if isinstance(text, str) and text.strip() else ""
    try:
        load_config(path, [])
    except UserError as exc:
        return description, _reason(exc, path)
    return description, None


def list_presets(extra_dirs: list[Path] | None = None) -> list[PresetInfo]:
    """The presets a name can reach: bundled ones, replaced by `./presets/` files of the same name.

    This is the order `find_preset` uses, so the listing shows exactly the file `run NAME` would
    use. `extra_dirs` (the console's folder of an explicitly given preset) add their presets
    under names not taken already. Broken files are listed with their `problem`.
    """
    bundled = scan_presets(bundled_presets_dir())
    local = scan_presets(local_presets_dir())
    chosen: dict[str, PresetInfo] = {}
    for name, path in bundled.items():
        description, problem = _inspect(path)
        chosen[name] = PresetInfo(name, path, description, True, problem)
    for name, path in local.items():
        description, problem = _inspect(path)
        shadows = bundled.get(name)
        chosen[name] = PresetInfo(name, path, description, False, problem, shadows)
    seen = {info.path.resolve() for info in chosen.values()}
    for folder in extra_dirs or []:
        for name, path in scan_presets(folder).items():
            if path.resolve() in seen:
                continue
            description, problem = _inspect(path)
            key = name if name not in chosen else str(path)
            chosen[key] = PresetInfo(name, path, description, False, problem)
    return sorted(chosen.values(), key=lambda p: (not p.bundled, p.name, str(p.path)))
