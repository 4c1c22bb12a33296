"""docs/reference/config.md from the config schema: every key (dotted), its type, default,
allowed values and description, so the reference cannot drift from `RunConfig`."""

from __future__ import annotations

import enum
import json
import types
import typing
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import annotated_types as at
from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from tui_trainer.config.schema import RunConfig

PAGE = Path("docs/reference/config.md")
COMMAND = "python -m tools.docs config"

HEADER = f"""\
# Config reference

Every key a preset (or a `key=value` override) accepts. Generated from the schema
(`tui_trainer/config`) by `{COMMAND}`; do not edit by hand: a test fails
when it is out of date.

Keys are dotted: `optim.lr: 0.05` in YAML is `optim.lr=0.05` on the command line. List sections
(`metrics`, `steering`) hold items with the keys shown under `name[]`.
"""


@dataclass(frozen=True)
class Key:
    """One documented key."""

    dotted: str
    type: str
    default: str
    allowed: str
    description: str


def _models(annotation: Any) -> list[type[BaseModel]]:
    """The pydantic models an annotation holds (directly, optional, or as list items)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for sub in typing.get_args(annotation) for m in _models(sub)]


def type_name(annotation: Any) -> str:
    """A short, user-facing name of a field's type."""
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is typing.Annotated:
        return type_name(args[0])
    if origin is typing.Literal:
        return "choice"
    if origin in (typing.Union, types.UnionType):
        return " | ".join(type_name(a) for a in args).replace("NoneType", "null")
    if origin is list:
        return f"list[{type_name(args[0])}]" if args else "list"
    if origin is tuple:
        return f"[{', '.join(type_name(a) for a in args)}]"
    if origin is dict:
        return "mapping"
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return "section"
    if annotation is type(None):
        return "null"
    return getattr(annotation, "__name__", str(annotation))


def _choices(annotation: Any) -> list[Any]:
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is typing.Literal:
        return list(args)
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return [m.value for m in annotation]
    if origin in (typing.Union, types.UnionType, typing.Annotated):
        return [c for a in args for c in _choices(a)]
    return []


_BOUNDS = ((at.Ge, "ge", "≥"), (at.Gt, "gt", ">"), (at.Le, "le", "≤"), (at.Lt, "lt", "<"))


def allowed(field: FieldInfo) -> str:
    """Allowed values: a Literal's choices, numeric bounds and minimum lengths."""
    parts = [f"`{json.dumps(c)}`" for c in _choices(field.annotation)]
    for meta in field.metadata:
        for kind, attr, sign in _BOUNDS:
            if isinstance(meta, kind):
                parts.append(f"{sign} {getattr(meta, attr)}")
        if isinstance(meta, at.MinLen):
            parts.append(f"length ≥ {meta.min_length}")
    return ", ".join(parts)


def default(field: FieldInfo) -> str:
    """The default as YAML would write it (`required` when there is none)."""
    if field.default is not PydanticUndefined:
        value = field.default
    elif field.default_factory is not None:
        value = field.default_factory()  # type: ignore[call-arg]
    else:
        return "required"
    if isinstance(value, BaseModel):
        return ""
    if isinstance(value, enum.Enum):
        value = value.value
    if isinstance(value, tuple):
        value = list(value)
    if isinstance(value, float) and value == float("inf"):
        return "`.inf`"
    return f"`{json.dumps(value, ensure_ascii=False)}`"


def config_keys(model: type[BaseModel] = RunConfig, prefix: str = "") -> Iterator[Key]:
    """Every key of `model`, depth first, in the schema's order."""
    for name, field in model.model_fields.items():
        dotted = prefix + name
        subs = _models(field.annotation)
        listed = typing.get_origin(field.annotation) is list or any(
            typing.get_origin(a) is list for a in typing.get_args(field.annotation)
        )
        yield Key(
            dotted,
            "list of sections" if subs and listed else type_name(field.annotation),
            "" if subs and not listed else default(field),
            allowed(field),
            " ".join((field.description or "").split()),
        )
        for sub in subs:
            yield from config_keys(sub, f"{dotted}[]." if listed else f"{dotted}.")


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render() -> str:
    """The whole page: a table per top-level section, plain keys first."""
    rows: dict[str, list[Key]] = {"": []}
    for key in config_keys():
        top = key.dotted.split(".")[0].split("[")[0]
        section = top if "." in key.dotted or key.type in ("section", "list of sections") else ""
        rows.setdefault(section, []).append(key)
    out = [HEADER]
    for section, items in rows.items():
        out.append(f"\n## `{section}`\n" if section else "\n## Top-level keys\n")
        out.append("| Key | Type | Default | Allowed | Description |")
        out.append("|---|---|---|---|---|")
        for k in items:
            out.append(
                f"| `{k.dotted}` | {_cell(k.type)} | {_cell(k.default)} | {_cell(k.allowed)} "
                f"| {_cell(k.description)} |"
            )
    return "\n".join(out) + "\n"


def write(root: Path) -> Path:
    """Regenerate the page under `root`; returns its path."""
    path = root / PAGE
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render(), encoding="utf-8")
    return path
