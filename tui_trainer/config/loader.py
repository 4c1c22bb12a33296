"""Load a run config: defaults → preset YAML → `key.path=value` overrides, validated by the schema.

Every failure is a `UserError` whose one-line message names the file (and line when YAML knows
it), the dotted key and what was expected, with the nearest valid key suggested for typos.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from tui_trainer.config.schema import RunConfig
from tui_trainer.errors import UserError

PRESET_SUFFIXES = (".yaml", ".yml")


@dataclass(frozen=True)
class PresetInfo:
    """A preset found on disk: its name, file and one-line description."""

    name: str
    path: Path
    description: str
    bundled: bool


def bundled_presets_dir() -> Path:
    """The folder of presets that ship inside the package (works after a plain pip install)."""
    return Path(str(resources.files("tui_trainer") / "presets"))


def list_presets(extra_dirs: list[Path] | None = None) -> list[PresetInfo]:
    """Bundled presets plus those in `./presets/` (and `extra_dirs`), de-duplicated by file."""
    found: dict[Path, PresetInfo] = {}
    dirs = [(bundled_presets_dir(), True), (Path.cwd() / "presets", False)]
    dirs += [(d, False) for d in extra_dirs or []]
    for folder, bundled in dirs:
        if not folder.is_dir():
            continue
        for path in sorted(folder.iterdir()):
            if path.suffix not in PRESET_SUFFIXES:
                continue
            real = path.resolve()
            if real in found:
                continue
            found[real] = PresetInfo(path.stem, path, _description(path), bundled)
    return sorted(found.values(), key=lambda p: (not p.bundled, p.name))


def _description(path: Path) -> str:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        return "(unreadable)"
    if isinstance(data, dict) and isinstance(data.get("description"), str):
        return data["description"].strip().splitlines()[0] if data["description"].strip() else ""
    return ""


def resolve_preset(preset: str) -> Path:
    """Turn a preset argument (a YAML path or a bundled/local preset name) into a file path."""
    path = Path(preset)
    if path.suffix in PRESET_SUFFIXES or "/" in preset or path.exists():
        if not path.is_file():
            raise UserError(f"{preset}: preset file not found")
        return path
    for info in list_presets():
        if info.name == preset:
            return info.path
    names = [p.name for p in list_presets()]
    hint = difflib.get_close_matches(preset, names, n=1, cutoff=0.75)
    suggestion = f" (did you mean '{hint[0]}'?)" if hint else f"; known presets: {', '.join(names)}"
    raise UserError(f"{preset}: no such preset{suggestion}")


def _line_map(text: str) -> dict[tuple[str, ...], int]:
    """Map each dotted key path in a YAML document to its 1-based line number."""
    lines: dict[tuple[str, ...], int] = {}

    def walk(node: yaml.Node, prefix: tuple[str, ...]) -> None:
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                path = (*prefix, str(key.value))
                lines[path] = key.start_mark.line + 1
                walk(value, path)

    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return lines
    if root is not None:
        walk(root, ())
    return lines


def read_yaml(path: Path) -> tuple[dict[str, Any], dict[tuple[str, ...], int]]:
    """Read a YAML mapping safely; returns the data and a key-path → line map."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise UserError(f"{path}: cannot read preset: {exc.strerror or exc}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark is not None else str(path)
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise UserError(f"{where}: invalid YAML: {problem}") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise UserError(f"{path}: expected a mapping of config keys, got {type(data).__name__}")
    return data, _line_map(text)


def parse_overrides(items: list[str]) -> dict[str, Any]:
    """Parse `key.path=value` items into a nested dict; values are YAML scalars."""
    nested: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not sep or not key or any(not part for part in key.split(".")):
            raise UserError(
                "expected key.path=value (e.g. optim.lr=0.01)", location=f"override '{item}'"
            )
        try:
            value = yaml.safe_load(raw) if raw.strip() else ""
        except yaml.YAMLError:
            value = raw
        node = nested
        parts = key.split(".")
        for part in parts[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise UserError(
                    f"'{part}' was already set to a value", location=f"override '{item}'"
                )
            node = child
        node[parts[-1]] = value
    return nested


def deep_merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    """Merge `extra` into a copy of `base`, recursing into mappings (`{}` clears one)."""
    out = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and value and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def _fields_at(path: tuple[str | int, ...]) -> list[str]:
    """The valid field names of the section at `path` (for did-you-mean suggestions)."""
    model: type[BaseModel] = RunConfig
    for part in path:
        field = model.model_fields.get(str(part))
        annotation = getattr(field, "annotation", None)
        candidates = [annotation, *getattr(annotation, "__args__", ())]
        sub = next(
            (c for c in candidates if isinstance(c, type) and issubclass(c, BaseModel)), None
        )
        if sub is None:
            return []
        model = sub
    return list(model.model_fields)


def _describe(error: dict[str, Any]) -> str:
    kind = error["type"]
    value = error.get("input")
    expected = {
        "int_parsing": "an integer",
        "int_type": "an integer",
        "int_from_float": "a whole number",
        "float_parsing": "a number",
        "float_type": "a number",
        "bool_parsing": "true or false",
        "bool_type": "true or false",
        "string_type": "a string",
        "list_type": "a list",
        "dict_type": "a mapping",
        "model_type": "a mapping of keys",
        "tuple_type": "a list of 2 numbers",
    }.get(kind)
    if expected:
        return f"expected {expected}, got {value!r}"
    if kind == "literal_error":
        return f"expected one of {error['ctx']['expected']}, got {value!r}"
    msg = error["msg"]
    msg = msg.removeprefix("Value error, ")
    ops = {
        "greater_than": ">",
        "greater_than_equal": ">=",
        "less_than": "<",
        "less_than_equal": "<=",
    }
    if kind in ops:
        bound = next(iter(error.get("ctx", {}).values()), "?")
        return f"expected a value {ops[kind]} {bound}, got {value!r}"
    return f"{msg}, got {value!r}" if value is not None and not isinstance(value, dict) else msg


def format_validation_error(
    exc: ValidationError,
    sources: dict[tuple[str, ...], str],
    lines: dict[tuple[str, ...], int],
    origin: str,
) -> UserError:
    """The UserError for the first validation error: where, which key, what was expected."""
    error = exc.errors()[0]
    loc = tuple(str(p) for p in error["loc"])
    if error["type"] == "cross_field":  # a check across keys names the key it is about
        loc = tuple(str(error["ctx"]["key"]).split("."))
        error = {**error, "msg": error["ctx"]["text"], "input": None}
    dotted = ".".join(loc) if loc else "(config)"
    where = sources.get(loc, origin)
    if loc in lines and sources.get(loc, origin) == origin:
        where = f"{origin}:{lines[loc]}"
    if error["type"] == "extra_forbidden":
        valid = _fields_at(loc[:-1])
        hint = difflib.get_close_matches(loc[-1], valid, n=1, cutoff=0.6)
        prefix = ".".join(loc[:-1])
        if hint:
            near = f"{prefix}.{hint[0]}" if prefix else hint[0]
            return UserError(f"unknown key (did you mean '{near}'?)", key=dotted, location=where)
        return UserError(f"unknown key (valid: {', '.join(valid)})", key=dotted, location=where)
    return UserError(_describe(error), key=dotted, location=where)


def _sources(data: dict[str, Any], label: str, prefix: tuple[str, ...] = ()) -> dict:
    out: dict[tuple[str, ...], str] = {}
    for key, value in data.items():
        path = (*prefix, str(key))
        out[path] = label
        if isinstance(value, dict):
            out.update(_sources(value, label, path))
    return out


def load_config(
    preset: str | Path | None, overrides: list[str] | None = None
) -> tuple[RunConfig, str]:
    """Resolve a preset (name or path, or None for defaults) plus overrides into a RunConfig.

    Returns the config and the preset's name (used for the run directory).
    """
    data: dict[str, Any] = {}
    lines: dict[tuple[str, ...], int] = {}
    origin = "defaults"
    name = "default"
    if preset is not None:
        path = resolve_preset(str(preset))
        data, lines = read_yaml(path)
        origin = str(path)
        name = path.stem if path.name != "config.yaml" else path.parent.parent.name
    sources = _sources(data, origin)
    items = overrides or []
    for item in items:
        one = parse_overrides([item])
        sources.update(_sources(one, f"override '{item}'"))
        data = deep_merge(data, one)
    try:
        config = RunConfig.model_validate(data)
    except ValidationError as exc:
        raise format_validation_error(exc, sources, lines, origin) from None
    return config, name


def resumed_config(
    resume: str | Path, preset: str | None, overrides: list[str]
) -> tuple[RunConfig, str]:
    """The config for `--resume`: the preset's when given, else the one saved in the run directory.

    `resume` is a run directory or a checkpoint file inside its `checkpoints/` folder.
    """
    if preset is not None:
        return load_config(preset, overrides)
    path = Path(resume)
    if not path.exists():
        raise UserError(f"--resume: '{resume}' not found")
    run_dir = path if path.is_dir() else path.resolve().parent.parent
    source = run_dir / "config.yaml"
    if not source.is_file():
        raise UserError(f"--resume: no config.yaml in '{run_dir}'; give the PRESET too")
    return load_config(source, overrides)
