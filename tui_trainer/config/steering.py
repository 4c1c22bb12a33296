"""Steering: changes to a run at an optimizer step (no torch here; the engine applies them).

One grammar serves `tui-trainer ctl RUN_DIR CHANGE`, the run screen's dialogs, the control
socket and the `steering:` list of a preset or config.yaml:

| change | effect at the step boundary |
|---|---|
| `lr=0.001` | the learning rate becomes 0.001; the schedule's remaining shape is scaled to it |
| `lr=*0.5` | the schedule from here on is multiplied by 0.5 |
| `unfreeze` | the frozen parameters join training now (the main batch size from the next epoch) |
| `epochs=30` | the run's length; cosine and onecycle re-plan their remainder continuously |
| `validate` | a validation pass now, without ending the epoch |

A `steering:` entry is `{step: N, change: TEXT}`: the change applies once N optimizer steps of
the run are done. A live change is recorded the same way, so `replay` repeats it exactly.
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass
from typing import Literal

from pydantic import Field, field_validator

from tui_trainer.config.sections import Section

Kind = Literal["lr", "unfreeze", "epochs", "validate"]
SYNTAX = "lr=VALUE, lr=*FACTOR, unfreeze, epochs=N or validate"
_BARE: dict[str, Kind] = {"unfreeze": "unfreeze", "validate": "validate"}  # the changes without "="


class BadChange(ValueError):
    """A change that does not parse (the message says what was expected)."""


@dataclass(frozen=True)
class Change:
    """One parsed steering change; `text` is its canonical form (what gets recorded)."""

    kind: Kind
    value: float | int | None = None
    relative: bool = False  # lr=*FACTOR

    @property
    def text(self) -> str:
        """The canonical text: `lr=0.001`, `lr=*0.5`, `unfreeze`, `epochs=30`, `validate`."""
        if self.kind == "lr":
            return f"lr={'*' if self.relative else ''}{self.value!r}"
        if self.kind == "epochs":
            return f"epochs={self.value}"
        return self.kind


def _positive_float(text: str, what: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise BadChange(f"{what}: expected a number") from None
    if not math.isfinite(value) or value <= 0:
        raise BadChange(f"{what}: expected a finite number > 0")
    if value < sys.float_info.min:  # subnormal: dividing by it overflows, products vanish
        raise BadChange(
            f"{what}: {value:.3g} is too small to compute with (smallest: {sys.float_info.min:.3g})"
        )
    return value


def parse_change(text: str) -> Change:
    """Parse one change (`lr=0.001`, `lr=*0.5`, `unfreeze`, `epochs=30`, `validate`).

    Raises BadChange with a one-line reason for anything else, including a negative, zero,
    subnormal or non-finite learning rate or factor and epochs below 1.
    """
    if not isinstance(text, str):
        raise BadChange(f"expected {SYNTAX}")
    raw = text.strip()
    if raw in _BARE:
        return Change(_BARE[raw])
    key, eq, value = raw.partition("=")
    key, value = key.strip(), value.strip()
    if eq and key == "lr":
        if value.startswith("*"):
            return Change("lr", _positive_float(value[1:].strip(), "lr=*FACTOR"), relative=True)
        return Change("lr", _positive_float(value, "lr"))
    if eq and key == "epochs":
        try:
            epochs = int(value)
        except ValueError:
            raise BadChange("epochs: expected a whole number >= 1") from None
        if epochs < 1:
            raise BadChange("epochs: expected a whole number >= 1")
        return Change("epochs", epochs)
    raise BadChange(f"expected {SYNTAX}")


class SteerEntry(Section):
    """One scheduled change: `change` applies once `step` optimizer steps are done."""

    step: int = Field(ge=1, description="Optimizer steps of the run done when the change applies.")
    change: str = Field(description=f"What changes: {SYNTAX}.")

    @field_validator("change")
    @classmethod
    def _parses(cls, v: str) -> str:
        try:
            return parse_change(v).text
        except BadChange as exc:
            raise ValueError(str(exc)) from None


def steering_error(entries: list[SteerEntry], freeze_enabled: bool) -> tuple[str, str] | None:
    """(key, message) when the steering list cannot work: out of order, or `unfreeze` with
    nothing frozen."""
    for i, entry in enumerate(entries):
        if i and entry.step < entries[i - 1].step:
            return (
                f"steering.{i}.step",
                f"entries must be in step order; {entry.step} comes after {entries[i - 1].step}",
            )
        if entry.change == "unfreeze" and not freeze_enabled:
            return (
                f"steering.{i}.change",
                "unfreeze needs a frozen backbone (freeze.enabled: true)",
            )
    return None
