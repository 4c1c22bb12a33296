"""Bounded, strict YAML for presets and override values.

PyYAML's `safe_load` builds no Python objects from tags, but it still takes whatever it is given:
nested aliases ("billion laughs") expand to gigabytes once anything walks the result, a key given
twice silently drops the first value, deep nesting overflows the stack, and bytes that are not
UTF-8 raise `UnicodeDecodeError`. This loader refuses all of that with a one-line `UserError`
naming the file, the line (or byte offset) and the key:

- a file larger than `MAX_BYTES`, or text that is not UTF-8 (byte value and offset named);
- more than `MAX_NODES` values once aliases are expanded, nesting deeper than `MAX_DEPTH`, or an
  alias inside its own anchor (a cycle);
- a key given twice in one mapping (`<<` merge keys may still be overridden, as YAML intends);
- a mapping key that is not a string;
- more than one YAML document in a file.

The document is composed once; the limits are checked on the node graph (shared aliases are
counted as often as they would be expanded, in time linear in the file) before any Python object
is built, so memory stays proportional to the file.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from tui_trainer.errors import UserError

MAX_BYTES = 1024 * 1024  # a preset is a few KB
MAX_NODES = 100_000  # values after alias expansion
MAX_DEPTH = 64  # nesting levels after alias expansion
MAX_SCALAR_CHARS = 4 * 1024 * 1024  # characters of all scalars after alias expansion


@dataclass(frozen=True)
class Limits:
    """The bounds one kind of YAML file is read within."""

    max_bytes: int
    max_nodes: int
    max_scalar_chars: int
    what: str  # how the size refusal names the file


PRESET = Limits(MAX_BYTES, MAX_NODES, MAX_SCALAR_CHARS, "a preset is a small text file")
"""Presets and override values: written by hand, a few KB."""

RUN_FILE = Limits(
    8 * MAX_BYTES, 20 * MAX_NODES, 8 * MAX_SCALAR_CHARS, "a run's config.yaml (steering included)"
)
"""A run's own config.yaml: its `steering:` list grows with every steer of a long run (a week of
steering passes 1 MiB), so replay and resume read it within higher, still finite, bounds."""

_STR_TAG = "tag:yaml.org,2002:str"
_INT_TAG = "tag:yaml.org,2002:int"
_MERGE_TAG = "tag:yaml.org,2002:merge"

KeyPath = tuple[str, ...]


class _Refused(Exception):
    """A limit or rule broken at a position in the document."""

    def __init__(self, message: str, mark: yaml.Mark | None) -> None:
        super().__init__(message)
        self.message = message
        self.mark = mark


class _BoundedLoader(yaml.SafeLoader):
    """SafeLoader whose composer refuses nesting deeper than MAX_DEPTH (no stack overflow).

    It also reads exponent floats without a dot (`1e-3`, `5E4`) as numbers, as YAML 1.2 does;
    PyYAML's YAML 1.1 rules would leave them strings, which the strict schema refuses.
    """

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent: Node | None, index: Any) -> Node | None:
        """Compose one node, counting the nesting level."""
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise _Refused(
                    f"nested deeper than {MAX_DEPTH} levels", self.peek_event().start_mark
                )
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def fetch_flow_collection_start(self, token_class: Any) -> None:
        """Refuse deep `[[[...` early: PyYAML's scanner is quadratic in the flow depth."""
        if self.flow_level >= MAX_DEPTH:
            raise _Refused(f"nested deeper than {MAX_DEPTH} levels", self.get_mark())
        super().fetch_flow_collection_start(token_class)


_BoundedLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"),
)


@dataclass
class YamlDocument:
    """A loaded YAML document: its data and the line of every mapping key (by key path)."""

    data: Any
    lines: dict[KeyPath, int] = field(default_factory=dict)


def _children(node: Node) -> list[Node]:
    if isinstance(node, SequenceNode):
        return list(node.value)
    if isinstance(node, MappingNode):
        return [n for pair in node.value for n in pair]
    return []


def _check_expansion(root: Node, limits: Limits = PRESET) -> None:
    """Refuse cycles and documents that expand beyond the limits (iterative, memoized)."""
    done: dict[int, tuple[int, int, int]] = {}  # id -> (nodes, scalar chars, depth)
    visiting: set[int] = set()
    stack: list[tuple[Node, bool]] = [(root, False)]
    while stack:
        node, leaving = stack.pop()
        key = id(node)
        if leaving:
            kids = [done[id(c)] for c in _children(node)]
            nodes = 1 + sum(k[0] for k in kids)
            chars = (len(node.value) if isinstance(node, ScalarNode) else 0) + sum(
                k[1] for k in kids
            )
            depth = 1 + max((k[2] for k in kids), default=0)
            visiting.discard(key)
            done[key] = (nodes, chars, depth)
            if nodes > limits.max_nodes:
                raise _Refused(
                    f"expands to more than {limits.max_nodes:,} values (nested aliases?)",
                    node.start_mark,
                )
            if chars > limits.max_scalar_chars:
                raise _Refused(
                    f"expands to more than {limits.max_scalar_chars:,} characters "
                    "(nested aliases?)",
                    node.start_mark,
                )
            if depth > MAX_DEPTH:
                raise _Refused(f"nested deeper than {MAX_DEPTH} levels", node.start_mark)
            continue
        if key in done:
            continue
        if key in visiting:
            raise _Refused("an alias refers to its own anchor (a cycle)", node.start_mark)
        visiting.add(key)
        stack.append((node, True))
        stack.extend((child, False) for child in _children(node))


def _check_keys(root: Node, int_keys: bool = False) -> dict[KeyPath, int]:
    """Refuse duplicate and non-string keys (`int_keys`: whole numbers are keys too, as in a
    YOLO data.yaml's `names: {0: person}`); return each key path's 1-based line."""
    key_tags = (_STR_TAG, _INT_TAG) if int_keys else (_STR_TAG,)
    lines: dict[KeyPath, int] = {}
    stack: list[tuple[Node, KeyPath]] = [(root, ())]
    while stack:
        node, path = stack.pop()
        if isinstance(node, SequenceNode):
            stack.extend((child, (*path, str(i))) for i, child in enumerate(node.value))
            continue
        if not isinstance(node, MappingNode):
            continue
        seen: dict[str, int] = {}
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE_TAG:
                stack.append((value_node, path))
                continue
            where = ".".join(path)
            if not isinstance(key_node, ScalarNode) or key_node.tag not in key_tags:
                shown = key_node.value if isinstance(key_node, ScalarNode) else "a collection"
                raise _Refused(
                    f"{where + ': ' if where else ''}key {shown!r} is not a string (quote it)",
                    key_node.start_mark,
                )
            name = key_node.value
            line = key_node.start_mark.line + 1
            dotted = f"{where}.{name}" if where else name
            if name in seen:
                raise _Refused(
                    f"{dotted}: duplicate key (first given on line {seen[name]}); "
                    "the later one would silently replace it",
                    key_node.start_mark,
                )
            seen[name] = line
            lines.setdefault((*path, name), line)
            stack.append((value_node, (*path, name)))
    return lines


def _where(source: str, mark: yaml.Mark | None, *, line_numbers: bool) -> str:
    if mark is None or not line_numbers:
        return source
    return f"{source}:{mark.line + 1}"


def _decode(raw: bytes, source: str, limits: Limits = PRESET) -> str:
    if len(raw) > limits.max_bytes:
        raise UserError(f"larger than {limits.max_bytes:,} bytes; {limits.what}", location=source)
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise UserError(
            f"not UTF-8 text: byte 0x{raw[exc.start]:02x} at byte offset {exc.start} "
            "(save the file as UTF-8)",
            location=f"{source}:{line}",
        ) from None


def parse_yaml_text(
    text: str,
    source: str,
    *,
    line_numbers: bool = True,
    syntax_as_text: bool = False,
    limits: Limits = PRESET,
    int_keys: bool = False,
) -> YamlDocument:
    """Parse one YAML document within the limits; `source` names it in error messages.

    `line_numbers`: whether messages carry `source:LINE` (files) or only `source` (overrides).
    `syntax_as_text`: text that is not YAML at all is returned as the plain string (override
    values such as `{stem}_mask.gif`); the limits and key rules still raise.
    `limits`: `PRESET` (default) or `RUN_FILE` for a run's own config.yaml.
    `int_keys`: whole-number mapping keys are allowed (data files such as a YOLO data.yaml).
    Raises UserError for invalid YAML and for anything the module docstring lists.
    """
    if len(text) > limits.max_bytes:
        raise UserError(f"longer than {limits.max_bytes:,} characters", location=source)
    loader = None
    try:
        loader = _BoundedLoader(text)  # the reader checks the characters here
        root = loader.get_single_node()
        if root is None:
            return YamlDocument(None)
        _check_expansion(root, limits)
        lines = _check_keys(root, int_keys)
        data = loader.construct_document(root)
    except _Refused as exc:
        where = _where(source, exc.mark, line_numbers=line_numbers)
        raise UserError(exc.message, location=where) from None
    except (yaml.reader.ReaderError, yaml.MarkedYAMLError) as exc:
        if syntax_as_text:
            return YamlDocument(text)
        _syntax_error(exc, text, source, line_numbers)
    except (yaml.YAMLError, ValueError, TypeError, AttributeError, OverflowError) as exc:
        # Explicit tags on values they cannot convert (`!!int abc`, `!!timestamp x`) raise
        # plain Python errors from PyYAML's constructor.
        detail = " ".join(str(exc).split()) or type(exc).__name__
        raise UserError(
            f"invalid YAML: a value does not fit its tag (!!int, !!float, !!timestamp ...): "
            f"{detail}",
            location=source,
        ) from None
    finally:
        if loader is not None:
            loader.dispose()
    return YamlDocument(data, lines)


def _syntax_error(exc: yaml.YAMLError, text: str, source: str, line_numbers: bool) -> None:
    """Raise the one-line UserError for a YAML syntax (or character) error."""
    if isinstance(exc, yaml.reader.ReaderError):
        line = text[: exc.position].count("\n") + 1
        place = f"{source}:{line}" if line_numbers else source
        raise UserError(
            f"invalid YAML: character {exc.character!r} is not allowed "
            f"(character offset {exc.position})",
            location=place,
        ) from None
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    problem = getattr(exc, "problem", None) or getattr(exc, "context", None) or "cannot parse"
    where = _where(source, mark, line_numbers=line_numbers)
    raise UserError(f"invalid YAML: {' '.join(str(problem).split())}", location=where) from None


def load_yaml_file(
    path: str | Path, source: str | None = None, limits: Limits = PRESET, int_keys: bool = False
) -> YamlDocument:
    """Read and parse a YAML file within `limits` (size checked before reading it whole)."""
    path = Path(path)
    name = source or str(path)
    try:
        with path.open("rb") as fh:
            raw = fh.read(limits.max_bytes + 1)
    except IsADirectoryError:
        raise UserError("is a directory, expected a YAML file", location=name) from None
    except OSError as exc:
        raise UserError(f"cannot read: {exc.strerror or exc}", location=name) from None
    return parse_yaml_text(_decode(raw, name, limits), name, limits=limits, int_keys=int_keys)
