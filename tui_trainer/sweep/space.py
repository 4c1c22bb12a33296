"""What a sweep varies: `key=a,b,c` lists and `key=KIND:...` distributions, parsed and expanded.

One command-line item is one of:

- `key=value`: the same override for every trial (a value without a top-level comma);
- `key=a,b,c`: a list (a grid axis; with `--trials`, a choice). Each value parses like an
  override's (`config/overrides.py`): `optim.lr=0.1,0.01`, `model.kwargs.channels=[8,16],[16,32]`.
  A comma splits values only outside brackets and quotes, so a value holding a comma is written
  in brackets (a YAML list) or quoted: `data.mask_pattern='{stem},a.png','{stem}.png'`;
- `key=loguniform:LOW:HIGH` (0 < LOW < HIGH), `key=uniform:LOW:HIGH` (LOW < HIGH),
  `key=int:LOW:HIGH` (integers, LOW < HIGH, both included) or `key=choice:a,b,...`: a
  distribution, sampled once per trial (`--trials N`). A value that merely starts like one is
  quoted to stay a plain string: `data.name='int:x'`.

Every value is checked here as an override (bad YAML, a section given a scalar: exit 2); whether
the config accepts it is `create`'s check against the preset.
"""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from tui_trainer.config.overrides import override_label, parse_override
from tui_trainer.errors import UserError

DISTRIBUTIONS = ("loguniform", "uniform", "int", "choice")
"""The distribution kinds, written `KIND:...` as a value."""

GRID = "grid"
"""A list of values given as `key=a,b,c`."""

MAX_GRID = 1000
"""Most trials a grid may expand to (a typo such as one more axis multiplies it)."""

_OPEN, _CLOSE = "[{(", "]})"


@dataclass(frozen=True)
class Param:
    """One varied key: a list (`GRID`, `choice`: `values` as written) or a numeric range."""

    key: str
    kind: str
    values: tuple[str, ...] = ()
    low: float = 0.0
    high: float = 0.0

    @property
    def listed(self) -> bool:
        """Values are picked from a list (`GRID` or `choice`)."""
        return self.kind in (GRID, "choice")

    def describe(self) -> str:
        """The parameter as it was written: `optim.lr=loguniform:0.0001:0.1`."""
        if self.kind == GRID:
            return f"{self.key}={','.join(self.values)}"
        if self.kind == "choice":
            return f"{self.key}=choice:{','.join(self.values)}"
        return f"{self.key}={self.kind}:{format_number(self.low)}:{format_number(self.high)}"

    def override(self, value: str | float | int) -> str:
        """The override a trial runs with for one value of this parameter."""
        text = value if isinstance(value, str) else format_number(value)
        return f"{self.key}={text}"

    def draw(self, rng: random.Random) -> str:
        """One value at random (the built-in random search), as override text."""
        if self.listed:
            return self.override(rng.choice(self.values))
        if self.kind == "int":
            return self.override(rng.randint(int(self.low), int(self.high)))
        if self.kind == "loguniform":
            return self.override(math.exp(rng.uniform(math.log(self.low), math.log(self.high))))
        return self.override(rng.uniform(self.low, self.high))

    def to_json(self) -> dict[str, Any]:
        """A plain mapping for the sweep's record (`from_json` reads it back)."""
        if self.listed:
            return {"key": self.key, "kind": self.kind, "values": list(self.values)}
        return {"key": self.key, "kind": self.kind, "low": self.low, "high": self.high}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Param:
        """The parameter `to_json` wrote."""
        return cls(
            key=str(data["key"]),
            kind=str(data["kind"]),
            values=tuple(str(v) for v in data.get("values", ())),
            low=float(data.get("low", 0.0)),
            high=float(data.get("high", 0.0)),
        )


@dataclass(frozen=True)
class Space:
    """A sweep's overrides: `fixed` for every trial, `params` varied (in command-line order)."""

    fixed: tuple[str, ...] = ()
    params: tuple[Param, ...] = field(default_factory=tuple)

    @property
    def grid_only(self) -> bool:
        """Every varied key is a list: the space is a grid."""
        return all(p.kind == GRID for p in self.params)

    def grid_size(self) -> int:
        """How many trials the grid has (1 with nothing varied)."""
        return math.prod(len(p.values) for p in self.params)

    def grid(self) -> list[list[str]]:
        """Each trial's overrides (fixed ones first), the last key varying fastest.

        A grid larger than MAX_GRID, or a distribution in it (it needs `--trials`), is refused.
        """
        sampled = [p for p in self.params if p.kind != GRID]
        if sampled:
            raise UserError(
                f"{sampled[0].describe()}: a distribution needs --trials N (how many to draw)"
            )
        size = self.grid_size()
        if size > MAX_GRID:
            raise UserError(
                f"the grid has {size:,} trials, more than {MAX_GRID:,}; "
                "use fewer values, or --trials N to draw N of them"
            )
        axes = [[p.override(v) for v in p.values] for p in self.params]
        return [[*self.fixed, *combo] for combo in itertools.product(*axes)]

    def draw(self, seed: int, trial: int) -> list[str]:
        """Trial `trial`'s overrides in a seeded random search: the same seed and trial number
        always give the same overrides, whichever trials were drawn before."""
        rng = random.Random(f"{seed}:{trial}")
        return [*self.fixed, *(p.draw(rng) for p in self.params)]

    def corners(self) -> Iterator[list[str]]:
        """Overrides that together use every listed value and both ends of every range, for
        checking the space against the preset before anything is queued."""
        for i, param in enumerate(self.params):
            others = [self._first(p) for j, p in enumerate(self.params) if j != i]
            if param.listed:
                ends = [param.override(v) for v in param.values]
            elif param.kind == "int":
                ends = [param.override(int(param.low)), param.override(int(param.high))]
            else:
                ends = [param.override(param.low), param.override(param.high)]
            for end in ends:
                yield [*self.fixed, *others, end]
        if not self.params:
            yield list(self.fixed)

    @staticmethod
    def _first(param: Param) -> str:
        if param.listed:
            return param.override(param.values[0])
        return param.override(int(param.low) if param.kind == "int" else param.low)

    def to_json(self) -> dict[str, Any]:
        """A plain mapping for the sweep's record."""
        return {"fixed": list(self.fixed), "params": [p.to_json() for p in self.params]}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Space:
        """The space `to_json` wrote."""
        return cls(
            fixed=tuple(str(item) for item in data.get("fixed", ())),
            params=tuple(Param.from_json(p) for p in data.get("params", ())),
        )


def format_number(value: float | int) -> str:
    """A drawn number as override text: an int as is, a float to 6 significant digits."""
    if isinstance(value, int):
        return str(value)
    return format(value, ".6g")


def split_values(text: str, item: str) -> list[str]:
    """`a,b,[c,d],'e,f'` → `a`, `b`, `[c,d]`, `'e,f'`: commas outside brackets and quotes split
    (a quote counts where a value starts with it).

    An empty value (`a,,b`, a trailing comma) is refused naming `item`.
    """
    pieces: list[str] = []
    depth, quote, start = 0, "", 0
    for i, ch in enumerate(text):
        if quote:
            if ch == quote:
                quote = ""
        elif ch in "'\"" and not text[start:i].strip():
            quote = ch  # a quote opens a value only at its start (`it's` is a plain word)
        elif ch in _OPEN:
            depth += 1
        elif ch in _CLOSE:
            depth = max(depth - 1, 0)
        elif ch == "," and depth == 0:
            pieces.append(text[start:i])
            start = i + 1
    pieces.append(text[start:])
    values = [p.strip() for p in pieces]
    if len(values) > 1 and not all(values):
        raise UserError(
            "an empty value in the list; expected key=a,b,c (quote a value holding a comma)",
            location=override_label(item),
        )
    return values


def parse_space(items: list[str]) -> Space:
    """The sweep's command-line items as a `Space` (see the module docstring); UserError
    naming the item for anything that is not an override, list or distribution."""
    fixed: list[str] = []
    params: list[Param] = []
    seen: dict[str, str] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep:
            parse_override(item)  # the one "expected key.path=value" message
        key = key.strip()
        param = _distribution(key, raw.strip(), item)
        if param is None:
            values = split_values(raw, item)
            if len(values) == 1:
                parse_override(item)
                fixed.append(item)
                continue
            for value in values:
                parse_override(f"{key}={value}")
            param = Param(key, GRID, tuple(values))
        if key in seen:
            raise UserError(
                f"{key} is varied twice (also by '{seen[key]}'); give its values in one item",
                location=override_label(item),
            )
        seen[key] = item
        params.append(param)
    varied = set(seen)
    for item in fixed:
        key = item.partition("=")[0].strip()
        if key in varied:
            raise UserError(
                f"{key} is both fixed and varied (by '{seen[key]}')",
                location=override_label(item),
            )
    return Space(tuple(fixed), tuple(params))


def _distribution(key: str, raw: str, item: str) -> Param | None:
    """`KIND:...` as a Param; None when the value does not start with a distribution kind."""
    kind, colon, rest = raw.partition(":")
    if not colon or kind not in DISTRIBUTIONS:
        return None
    where = override_label(item)
    if kind == "choice":
        values = split_values(rest, item)
        if len(values) < 2 or not all(values):
            raise UserError("expected choice:a,b,... with at least two values", location=where)
        for value in values:
            parse_override(f"{key}={value}")
        return Param(key, "choice", tuple(values))
    ends = rest.split(":")
    usage = f"expected {kind}:LOW:HIGH"
    if len(ends) != 2:
        raise UserError(f"{usage} (two numbers)", location=where)
    low: float
    high: float
    if kind == "int":
        try:
            low, high = (float(int(e.strip())) for e in ends)
        except ValueError:
            raise UserError(f"{usage} with whole numbers, got '{rest}'", location=where) from None
    else:
        try:
            low, high = (float(e.strip()) for e in ends)
        except ValueError:
            raise UserError(f"{usage} with numbers, got '{rest}'", location=where) from None
        if not (math.isfinite(low) and math.isfinite(high)):
            raise UserError(f"{usage} with finite numbers, got '{rest}'", location=where)
    if not low < high:
        raise UserError(f"{usage} with LOW < HIGH, got '{rest}'", location=where)
    if kind == "loguniform" and low <= 0:
        raise UserError(f"{usage} with 0 < LOW (a log scale), got '{rest}'", location=where)
    param = Param(key, kind, low=low, high=high)
    parse_override(param.override(int(low) if kind == "int" else low))
    return param
