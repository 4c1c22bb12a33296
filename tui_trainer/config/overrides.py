"""`key.path=value` overrides: parsing (bounded YAML values) and merging into a preset.

Merging knows the schema's shape, so an override can never silently wipe a section: a scalar
given for a section (`data=5`, `model.kwargs=3`) or a dotted key under a single value
(`epochs.max=3`) is refused naming the override. `key={}` still resets a section to its
defaults, and `key=null` clears an optional section (`data.normalize=null`).
"""

from __future__ import annotations

import inspect
from typing import Any, Literal, get_args, get_origin

from pydantic import BaseModel

from tui_trainer.config.schema import RunConfig
from tui_trainer.config.yaml_safe import MAX_DEPTH, parse_yaml_text
from tui_trainer.errors import UserError

Kind = Literal["section", "mapping", "value", "unknown"]


def field_kind(path: tuple[str, ...]) -> tuple[Kind, bool]:
    """What the schema holds at a dotted key path, and whether it may be null.

    "section": a typed section (data, optim, data.normalize ...); "mapping": a free-form mapping
    (model.kwargs); "value": a single value; "unknown": not a schema key, or inside a mapping.
    """
    model: type[BaseModel] | None = RunConfig
    kind: Kind = "unknown"
    optional = False
    for part in path:
        if model is None:
            return "unknown", False
        field = model.model_fields.get(part)
        if field is None:
            return "unknown", False
        annotation = field.annotation
        args = get_args(annotation)
        optional = type(None) in args
        candidates = [annotation, *args]
        model = next(
            (c for c in candidates if inspect.isclass(c) and issubclass(c, BaseModel)), None
        )
        if get_origin(annotation) in (list, tuple):
            kind, model = "value", None  # a list (of sections too: metrics, steering) is one value
        elif model is not None:
            kind = "section"
        elif any(c is dict or get_origin(c) is dict for c in candidates):
            kind = "mapping"
        else:
            kind = "value"
    return kind, optional


def _check_shape(item: str, parts: list[str], value: Any) -> None:
    """Refuse an override whose shape contradicts the schema (see module docstring)."""
    for i in range(1, len(parts)):
        prefix = tuple(parts[:i])
        if field_kind(prefix)[0] == "value":
            dotted = ".".join(prefix)
            raise UserError(
                f"{dotted} is a single value, not a section of keys (set it as {dotted}=VALUE)",
                location=override_label(item),
            )
    kind, optional = field_kind(tuple(parts))
    if kind not in ("section", "mapping") or isinstance(value, dict):
        return
    if value is None and optional:
        return
    dotted = ".".join(parts)
    if kind == "section":
        raise UserError(
            f"{dotted} is a section of keys, not a single value; set its keys one by one "
            f"({dotted}.KEY=VALUE), or {dotted}={{}} for its defaults; got {short_repr(value)}",
            location=override_label(item),
        )
    raise UserError(
        f"{dotted} is a mapping; expected {dotted}={{key: value, ...}} or {dotted}.KEY=VALUE, "
        f"got {short_repr(value)}",
        location=override_label(item),
    )


def short_repr(value: Any, limit: int = 60) -> str:
    """`repr(value)`, cut to `limit` characters (a message stays one readable line)."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[: limit - 3]}..."


def override_label(item: str, limit: int = 200) -> str:
    """`override 'optim.lr=0.1'` for messages; escaped when the text has line breaks, quotes
    or control characters, and cut when long, so a message stays one readable line."""
    if item.isprintable() and "'" not in item and len(item) <= limit:
        return f"override '{item}'"
    return f"override {short_repr(item, limit)}"


def parse_override(item: str) -> dict[str, Any]:
    """One `key.path=value` item as a nested dict; the value is a YAML value within the limits.

    A value that is not valid YAML is taken as a plain string (`data.mask_pattern={stem}.gif`).
    """
    key, sep, raw = item.partition("=")
    key = key.strip()
    parts = key.split(".")
    if not sep or not key or any(not part.strip() for part in parts):
        raise UserError(
            "expected key.path=value (e.g. optim.lr=0.01)", location=override_label(item)
        )
    if len(parts) > MAX_DEPTH:
        raise UserError(f"more than {MAX_DEPTH} key levels", location=override_label(item))
    parts = [part.strip() for part in parts]
    value: Any = ""
    if raw.strip():
        label = override_label(item)
        value = parse_yaml_text(raw, label, line_numbers=False, syntax_as_text=True)
        value = value.data
    _check_shape(item, parts, value)
    nested: dict[str, Any] = {}
    node = nested
    for part in parts[:-1]:
        node = node.setdefault(part, {})
    node[parts[-1]] = value
    return nested


def parse_overrides(items: list[str]) -> dict[str, Any]:
    """Parse `key.path=value` items into one nested dict (later items win)."""
    nested: dict[str, Any] = {}
    for item in items:
        nested = deep_merge(nested, parse_override(item))
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
