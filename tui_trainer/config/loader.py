"""Load a run config: defaults → preset YAML → `key.path=value` overrides, validated by the schema.

Every failure is a `UserError` whose one-line message names the file (and line when YAML knows
it), the dotted key and what was expected, with the nearest valid key suggested for typos.
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from tui_trainer.config.names import safe_component
from tui_trainer.config.overrides import (
    deep_merge,
    override_label,
    parse_override,
    parse_overrides,
    short_repr,
)
from tui_trainer.config.resolve import (
    PRESET_SUFFIXES,
    PresetInfo,
    PresetSource,
    bundled_presets_dir,
    find_preset,
    resolve_preset,
)
from tui_trainer.config.rules import freeze_override_without_enabled
from tui_trainer.config.schema import RunConfig
from tui_trainer.config.yaml_safe import PRESET, RUN_FILE, load_yaml_file
from tui_trainer.errors import UserError

__all__ = [
    "PRESET_SUFFIXES",
    "PresetInfo",
    "PresetSource",
    "bundled_presets_dir",
    "deep_merge",
    "find_preset",
    "format_validation_error",
    "load_config",
    "parse_overrides",
    "read_yaml",
    "resolve_preset",
    "resumed_config",
]


def read_yaml(path: Path) -> tuple[dict[str, Any], dict[tuple[str, ...], int]]:
    """Read a preset within the YAML limits; returns the data and a key-path → line map.

    An empty document (blank, or comments only) is refused: it would run all defaults.
    A run's own config.yaml (replay, resume) is read within the higher run-file bounds.
    """
    doc = load_yaml_file(path, limits=RUN_FILE if path.name == "config.yaml" else PRESET)
    if doc.data is None:
        raise UserError(f"{path}: empty preset (no keys, only blank lines or comments)")
    if not isinstance(doc.data, dict):
        raise UserError(f"{path}: expected a mapping of config keys, got {type(doc.data).__name__}")
    return doc.data, doc.lines


def _fields_at(path: tuple[str | int, ...]) -> list[str]:
    """The valid field names of the section at `path` (for did-you-mean suggestions)."""
    model: type[BaseModel] = RunConfig
    for part in path:
        if isinstance(part, int) or str(part).isdigit():  # metrics.0: a list item's section
            continue
        sub = _sub_model(model, str(part))
        if sub is None:
            return []
        model = sub
    return list(model.model_fields)


def _sub_model(model: type[BaseModel], field: str) -> type[BaseModel] | None:
    annotation = getattr(model.model_fields.get(field), "annotation", None)
    candidates = [annotation, *getattr(annotation, "__args__", ())]
    return next((c for c in candidates if isinstance(c, type) and issubclass(c, BaseModel)), None)


def _keys_named(leaf: str, model: type[BaseModel] = RunConfig, prefix: str = "") -> list[str]:
    """Every dotted key of the schema whose last part is `leaf` (`lr` → `optim.lr`, ...)."""
    found: list[str] = []
    for name in model.model_fields:
        dotted = f"{prefix}{name}"
        sub = _sub_model(model, name)
        if sub is not None:
            found += _keys_named(leaf, sub, f"{dotted}.")
        elif name == leaf:
            found.append(dotted)
    return found


def _describe(error: ErrorDetails) -> str:
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
        "finite_number": "a finite number",
    }.get(kind)
    if expected:
        return f"expected {expected}, got {short_repr(value)}"
    if kind == "literal_error":
        return f"expected one of {error['ctx']['expected']}, got {short_repr(value)}"
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
        return f"expected a value {ops[kind]} {bound}, got {short_repr(value)}"
    msg = " ".join(str(msg).split())
    if value is not None and not isinstance(value, dict):
        return f"{msg}, got {short_repr(value)}"
    return msg


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
        elsewhere = _keys_named(loc[-1])  # `lr=0.1`: the key lives in a section
        if elsewhere:
            named = [f"'{k}'" for k in elsewhere]
            shown = (
                " or ".join(named)
                if len(named) <= 3
                else f"{', '.join(named[:3])} or {len(named) - 3} more"
            )
            return UserError(f"unknown key (did you mean {shown}?)", key=dotted, location=where)
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

    Returns the config and the preset's name: the file's stem (a replayed config.yaml: its run's
    preset folder) made a safe single folder name by `safe_component`, as the run directory uses
    it.
    """
    data: dict[str, Any] = {}
    lines: dict[tuple[str, ...], int] = {}
    origin = "defaults"
    name = "default"
    if preset is not None:
        path = find_preset(str(preset)).path
        data, lines = read_yaml(path)
        origin = str(path)
        stem = path.stem if path.name != "config.yaml" else path.parent.parent.name
        name = safe_component(stem, "preset")  # a folder of the run directory's path
    sources = _sources(data, origin)
    items = overrides or []
    for item in items:
        one = parse_override(item)
        sources.update(_sources(one, override_label(item)))
        data = deep_merge(data, one)
    try:
        config = RunConfig.model_validate(data)
    except ValidationError as exc:
        raise format_validation_error(exc, sources, lines, origin) from None
    unused = freeze_override_without_enabled(config.freeze, sources)
    if unused:
        key, where, text = unused
        raise UserError(text, key=key, location=where)
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
