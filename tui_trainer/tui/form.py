"""The setup screen's toggles as data: their values, the overrides they make, their validation.

Pure Python (no Textual). Values are kept as the text a person typed; `overrides()` turns the ones
that differ from the preset into dotted `key=value` overrides, and `validate()` checks them with
`load_config`, so the messages are exactly the ones the CLI prints for the same overrides.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, get_args

from tui_trainer.config import RunConfig, load_config
from tui_trainer.config.checks import ROOT_DATASETS, missing_here, static_checks
from tui_trainer.config.schema import PrecisionName, SchedulerName
from tui_trainer.config.yaml_safe import parse_yaml_text
from tui_trainer.errors import UserError
from tui_trainer.formatting import plain_value

SCHEDULERS: tuple[str, ...] = get_args(SchedulerName)
PRECISIONS: tuple[str, ...] = get_args(PrecisionName)

SCHEDULER_PARAM: dict[str, tuple[str, str]] = {
    "step": ("scheduler.step_size", "step size"),
    "multistep": ("scheduler.milestones", "milestones"),
    "cosine": ("scheduler.min_lr", "min lr"),
    "onecycle": ("scheduler.max_lr", "max lr"),
    "plateau": ("scheduler.patience", "patience"),
}
"""Each scheduler's main parameter: its dotted key and its label."""

FIELD_KEYS: dict[str, str] = {
    "freeze": "freeze.enabled",
    "freeze_epochs": "freeze.epochs",
    "precision": "precision",
    "scheduler": "scheduler.name",
    "warmup": "scheduler.warmup_epochs",
    "accumulate": "accumulate",
    "epochs": "epochs",
    "batch_size": "data.batch_size",
    "lr": "optim.lr",
    "clip_grad_norm": "optim.clip_grad_norm",
    "early_stop": "early_stop.patience",
    "ema": "ema.enabled",
    "ema_decay": "ema.decay",
    "compile": "compile",
    "data_root": "data.root",
    "image_size": "data.image_size",
}
"""Form field → the config key it sets (scheduler parameters are the field "scheduler_param")."""

PARAM_KEYS = {key: name for name, (key, _label) in SCHEDULER_PARAM.items()}
BOOL_FIELDS = ("freeze", "ema", "compile")
"""Form fields shown as checkboxes (the others are typed text)."""
TEXT_FIELDS = tuple(n for n in FIELD_KEYS if n not in (*BOOL_FIELDS, "precision", "scheduler"))
"""Form fields typed into an Input."""
NULLABLE_KEYS = (
    "freeze.epochs",
    "optim.clip_grad_norm",
    "early_stop.patience",
    "data.root",
    "data.image_size",
)
"""Keys whose empty field means null (off / the whole run)."""


def _get(config: RunConfig, dotted: str) -> Any:
    node: Any = config
    for part in dotted.split("."):
        node = getattr(node, part)
    return node


def _parse(text: str) -> Any:
    """Parse a typed value the way `parse_overrides` does (a YAML scalar)."""
    if not text.strip():
        return None
    try:  # the bounded loader, as for override values (a pasted alias bomb is refused)
        return parse_yaml_text(text, "field", line_numbers=False, syntax_as_text=True).data
    except UserError:
        return text


def _override_text(key: str, text: str) -> str:
    text = text.strip()
    if key == "scheduler.milestones" and text and not text.startswith("["):
        text = f"[{text}]"
    if key in NULLABLE_KEYS and not text:
        text = "null"
    return f"{key}={text}"


@dataclass
class FormValues:
    """The toggles' current values, as text (booleans as bool)."""

    freeze: bool = False
    freeze_epochs: str = ""
    precision: str = "fp32"
    scheduler: str = "none"
    params: dict[str, str] = field(default_factory=dict)  # scheduler name → its main parameter
    warmup: str = "0"  # warm-up epochs
    accumulate: str = "1"
    epochs: str = "10"
    batch_size: str = "64"
    lr: str = "0.01"
    clip_grad_norm: str = ""  # empty: no clipping
    early_stop: str = ""  # patience in epochs; empty: off
    ema: bool = False
    ema_decay: str = "0.999"
    compile: bool = False
    data_root: str = ""  # the data folder (shown for data read from a folder)
    image_size: str = ""  # square image size (shown where the preset's data sets one)

    @classmethod
    def from_config(cls, config: RunConfig) -> FormValues:
        """The form as a preset sets it."""
        return cls(
            freeze=config.freeze.enabled,
            freeze_epochs=plain_value(config.freeze.epochs),
            precision=config.precision,
            scheduler=config.scheduler.name,
            params={
                name: plain_value(_get(config, key)) for name, (key, _) in SCHEDULER_PARAM.items()
            },
            warmup=plain_value(config.scheduler.warmup_epochs),
            accumulate=plain_value(config.accumulate),
            epochs=plain_value(config.epochs),
            batch_size=plain_value(config.data.batch_size),
            lr=plain_value(config.optim.lr),
            clip_grad_norm=plain_value(config.optim.clip_grad_norm),
            early_stop=plain_value(config.early_stop.patience),
            ema=config.ema.enabled,
            ema_decay=plain_value(config.ema.decay),
            compile=config.compile,
            data_root=plain_value(config.data.root),
            image_size=plain_value(config.data.image_size),
        )

    def with_overrides(self, overrides: list[str]) -> tuple[FormValues, list[str]]:
        """Apply command-line overrides that a toggle shows; return the form and the others."""
        values = replace(self, params=dict(self.params))
        rest: list[str] = []
        by_key = {key: name for name, key in FIELD_KEYS.items()}
        for item in overrides:
            key, sep, raw = item.partition("=")
            key = key.strip()
            if sep and key in PARAM_KEYS:
                values.params[PARAM_KEYS[key]] = raw.strip().strip("[]")
            elif sep and key in by_key:
                name = by_key[key]
                if name in BOOL_FIELDS:
                    parsed = _parse(raw)
                    if not isinstance(parsed, bool):
                        rest.append(item)  # let validation report it
                        continue
                    setattr(values, name, parsed)
                else:
                    setattr(values, name, "" if raw.strip() == "null" else raw.strip())
            else:
                rest.append(item)
        return values, rest

    def field_overrides(self, base: RunConfig) -> dict[str, list[str]]:
        """Per form field, the overrides it makes: only values that differ from `base`."""
        out: dict[str, list[str]] = {}
        for name, key in FIELD_KEYS.items():
            value = getattr(self, name)
            text = plain_value(value) if isinstance(value, bool) else value
            if _differs(_get(base, key), text):
                out[name] = [_override_text(key, text)]
        params = [
            _override_text(key, self.params.get(name, ""))
            for name, (key, _) in SCHEDULER_PARAM.items()
            if _differs(_get(base, key), self.params.get(name, ""))
        ]
        if params:
            out["scheduler_param"] = params
        return out


def _differs(current: Any, text: str) -> bool:
    value = _parse(text)
    if isinstance(current, (list, tuple)) and isinstance(value, (int, float)):
        value = [value]
    elif isinstance(current, (list, tuple)) and isinstance(value, str) and "," in value:
        value = _parse(f"[{value}]")
    if isinstance(current, (list, tuple)) and isinstance(value, (list, tuple)):
        return list(current) != list(value)
    if isinstance(current, bool) or isinstance(value, bool):
        return current is not value
    if isinstance(current, (int, float)) and isinstance(value, (int, float)):
        return float(current) != float(value)
    return current != value


@dataclass
class Validation:
    """The outcome of checking the form: a config, or messages per field and in general."""

    config: RunConfig | None
    overrides: list[str]
    errors: dict[str, str]
    general: str | None = None
    name: str = ""  # the preset's name, for the run directory
    warnings: list[str] = field(default_factory=list)  # e.g. a data folder not found here

    @property
    def ok(self) -> bool:
        """True when the run can start."""
        return self.config is not None


_ALL_FIELDS = {name: [f"{key}="] for name, key in FIELD_KEYS.items()} | {
    "scheduler_param": [f"{key}=" for key, _ in SCHEDULER_PARAM.values()]
}
_OVERRIDE = "override '"


def _field_of(error: UserError, per_field: dict[str, list[str]]) -> str | None:
    """Which form field a `load_config` error is about, if any (from its location and key)."""
    where = error.location or ""
    if where.startswith(_OVERRIDE) and where.endswith("'"):
        item = where[len(_OVERRIDE) : -1]
        return next((name for name, items in per_field.items() if item in items), None)
    for name, items in per_field.items():
        if any(item.partition("=")[0] == error.key for item in items):
            return name
    return None


def uses_data_root(config: RunConfig) -> bool:
    """Whether the form shows the data folder field for `config` (its data comes from a folder)."""
    return config.data.name in ROOT_DATASETS or config.data.root is not None


def uses_image_size(config: RunConfig) -> bool:
    """Whether the form shows the image size field for `config`: its data sets one, or it is a
    detection run (a detector's input size, what its speed and small objects depend on, is
    always worth a toggle; empty = the data's default)."""
    return config.data.image_size is not None or config.task == "detection"


def _not_a_toggle(error: UserError) -> str:
    """A message about a key no toggle sets, with what to do about it."""
    hint = f" (no toggle sets {error.key}: fix it in the preset, or start with {error.key}=… )"
    return str(error) + (hint if error.key else "")


def _culprit(
    preset: str | Path, extra: list[str], changed: dict[str, list[str]], error: UserError
) -> str | None:
    """The changed field without which `error` goes away: the change it conflicts with."""
    for name in changed:
        rest = [item for other, items in changed.items() if other != name for item in items]
        try:
            load_config(preset, [*extra, *rest])
        except UserError as exc:
            if str(exc) == str(error):
                continue
        return name
    return None


def field_errors(
    problems: list[UserError], *, errors: dict[str, str] | None = None
) -> tuple[dict[str, str], str | None]:
    """Per form field, the problems about its key; the others joined as the general message."""
    errors = dict(errors or {})
    general: list[str] = []
    for problem in problems:
        owner = _field_of(problem, _ALL_FIELDS)
        if owner is not None:
            errors.setdefault(owner, str(problem))
        else:
            general.append(_not_a_toggle(problem))
    return errors, "\n".join(general) or None


def refused(result: Validation, error: UserError) -> Validation:
    """`result` with the reason the run refused to start (e.g. data the run found unusable)."""
    errors, general = field_errors([error], errors=result.errors)
    general = "\n".join(m for m in (result.general, general) if m) or None
    return Validation(None, result.overrides, errors, general, result.name, result.warnings)


def validate(
    preset: str | Path, base: RunConfig, values: FormValues, extra: list[str]
) -> Validation:
    """Check the form against the preset (and extra overrides) with `load_config`.

    Every field with a bad value gets its own message; a rule between keys that a change breaks
    is shown on the field of the key it names (the warm-up for onecycle), or, when no toggle sets
    that key, on the change that conflicts with it. A problem no field owns (a bad extra
    override, a broken preset) is the general message. A valid config is then checked for what
    the run needs on this machine (`missing_here`: the data folder, weights file, output root):
    the console runs here, so a missing one refuses Start, on its field when it has one.
    """
    per_field = values.field_overrides(base)
    remaining = dict(per_field)
    errors: dict[str, str] = {}
    while True:
        overrides = [*extra, *(item for items in remaining.values() for item in items)]
        try:
            config, name = load_config(preset, overrides)
        except UserError as exc:
            message = str(exc)
            owner = _field_of(exc, remaining)
            if owner is not None:
                errors[owner] = message
                del remaining[owner]
                continue
            owner = _field_of(exc, _ALL_FIELDS)  # e.g. a preset value a change conflicts with
            if owner is not None:
                errors.setdefault(owner, message)
                return Validation(None, overrides, errors)
            owner = _culprit(preset, extra, remaining, exc) if exc.key else None
            if owner is not None:
                errors[owner] = f"{_not_a_toggle(exc)}; or undo this change"
                return Validation(None, overrides, errors)
            return Validation(None, overrides, errors, _not_a_toggle(exc))
        if errors:
            return Validation(None, overrides, errors)
        try:
            _notes, warnings = static_checks(config)
        except UserError as exc:
            return Validation(None, overrides, errors, str(exc))
        missing = missing_here(config)
        if missing:
            errors, general = field_errors(missing)
            warnings = [w for w in warnings if w not in {str(m) for m in missing}]
            return Validation(None, overrides, errors, general, name, warnings)
        return Validation(config, overrides, errors, name=name, warnings=warnings)
