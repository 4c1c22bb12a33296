"""The keys of a config that name Python code, and their check without calling anything.

A preset may name the user's own classes as `module:Class`: `model.name`, `data.name`,
`loss.name` and each `metrics` entry. `code_names` lists them with the base class each must
subclass and the keyword arguments the run will pass; `verify_code` imports each (which runs the
module's code, as a run would), checks the base class and binds the kwargs to the constructor's
signature, calling nothing. `tui-trainer check` prints every problem, one line per key; the setup
screen marks the keys (`code_keys`) so a user sees that a preset runs their code.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from tui_trainer.config.pycode import (
    METRIC_FILLS,
    MODEL_FILLS,
    TORCH_MODULE,
    import_class,
    is_code_name,
    subclasses_by_name,
)
from tui_trainer.config.schema import RunConfig
from tui_trainer.errors import UserError

DATASET = "torch.utils.data.dataset.Dataset"
METRIC = "torchmetrics.metric.Metric"
ITERABLE = "torch.utils.data.dataset.IterableDataset"


@dataclass(frozen=True)
class CodeName:
    """One `module:Class` a config names, with what the run will construct it with."""

    key: str  # the key naming the class: "data.name", "metrics[1]"
    spec: str  # "package.module:Class"
    base: str  # the qualified name of the base class it must subclass
    what: str  # the base class as a user reads it
    calls: tuple[tuple[str, dict[str, Any]], ...] = ()  # (kwargs key, kwargs) per construction
    injected: tuple[str, ...] = field(default=())  # passed by the run when the signature has them


def _metric_entries(config: RunConfig) -> list[tuple[str, str, dict[str, Any]]]:
    """(key, spec, kwargs) of each `metrics` entry: a `module:Class` string or {name, kwargs}."""
    entries: list[tuple[str, str, dict[str, Any]]] = []
    for i, entry in enumerate(getattr(config, "metrics", None) or []):
        key = f"metrics[{i}]"
        if isinstance(entry, str):
            entries.append((key, entry, {}))
        elif isinstance(entry, Mapping):
            entries.append((key, str(entry.get("name", "")), dict(entry.get("kwargs") or {})))
        else:  # a model object with name and kwargs
            entries.append((key, str(entry.name), dict(getattr(entry, "kwargs", None) or {})))
    return entries


def code_names(config: RunConfig) -> list[CodeName]:
    """Every key of `config` that names a `module:Class`, in the order a preset lists them."""
    names: list[CodeName] = []
    model = config.model
    if is_code_name(model.name):
        names.append(
            CodeName(
                "model.name",
                model.name,
                TORCH_MODULE,
                "torch.nn.Module",
                (("model.kwargs", dict(model.kwargs)),),
                MODEL_FILLS,
            )
        )
    data = config.data
    if is_code_name(data.name):
        calls = [("data.kwargs", dict(getattr(data, "kwargs", None) or {}))]
        val_kwargs = getattr(data, "val_kwargs", None)
        if val_kwargs is not None:
            calls.append(("data.val_kwargs", dict(val_kwargs)))
        names.append(
            CodeName("data.name", data.name, DATASET, "torch.utils.data.Dataset", tuple(calls))
        )
    loss = config.loss
    if is_code_name(loss.name):
        kwargs = dict(getattr(loss, "kwargs", None) or {})
        names.append(
            CodeName(
                "loss.name", loss.name, TORCH_MODULE, "torch.nn.Module", (("loss.kwargs", kwargs),)
            )
        )
    for key, spec, kwargs in _metric_entries(config):
        names.append(
            CodeName(
                key,
                spec,
                METRIC,
                "torchmetrics.Metric",
                ((f"{key}.kwargs", kwargs),),
                METRIC_FILLS,  # as the run fills them in
            )
        )
    return names


def code_keys(config: RunConfig) -> list[str]:
    """The keys that name Python code, for a summary ("metrics" once for all its entries)."""
    keys: list[str] = []
    for name in code_names(config):
        key = "metrics" if name.key.startswith("metrics[") else name.key
        if key not in keys:
            keys.append(key)
    return keys


def _bind_problem(cls: type, name: CodeName, kwargs_key: str, kwargs: dict[str, Any]) -> str | None:
    """Why `cls(**kwargs)` (plus what the run adds) cannot be called, or None when it can."""
    try:
        signature = inspect.signature(cls)
    except (TypeError, ValueError):  # a builtin or C type: nothing to bind against
        return None
    params = signature.parameters
    given = dict(kwargs)
    for extra in name.injected:
        if extra in params:
            given.setdefault(extra, 0)
    try:
        signature.bind(**given)
    except TypeError as exc:
        shown = f"with {kwargs}" if kwargs else "without arguments"
        return f"{name.spec} cannot be constructed {shown}: {exc} (signature {signature})"
    return None


def verify_code(config: RunConfig) -> tuple[list[str], list[UserError]]:
    """Import and check every `module:Class` of `config`; construct nothing.

    Returns what was verified (one phrase per key) and the problems, one `UserError` per key
    (the name when it cannot be imported or is the wrong kind, else the kwargs key).
    """
    verified: list[str] = []
    problems: list[UserError] = []
    for name in code_names(config):
        try:
            cls = import_class(name.spec, name.key, name.base, name.what)
        except UserError as exc:
            problems.append(exc)
            continue
        if name.base == DATASET and subclasses_by_name(cls, ITERABLE):  # as the run refuses it
            problems.append(
                UserError(
                    f"'{name.spec}' is an IterableDataset; expected a map-style "
                    "torch.utils.data.Dataset (with __len__ and __getitem__)",
                    key=name.key,
                )
            )
            continue
        bad = False
        for kwargs_key, kwargs in name.calls:
            problem = _bind_problem(cls, name, kwargs_key, kwargs)
            if problem:
                problems.append(UserError(problem, key=kwargs_key))
                bad = True
        if not bad:
            short = name.what.rsplit(".", 1)[-1]
            verified.append(f"{name.key} {name.spec} ({short})")
    return verified, problems


def require_code(config: RunConfig) -> list[str]:
    """`verify_code`, raising its first problem; returns what was verified."""
    verified, problems = verify_code(config)
    if problems:
        raise problems[0]
    return verified
