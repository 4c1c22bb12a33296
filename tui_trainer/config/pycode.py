"""`module:Class` names in a config: import the module and check the name is the right class.

Importing a module runs its code, so a preset that names Python code is code: only use presets
you trust (docs/data-tasks.md says so). The check happens before anything is *called*: a
plain function, an instance or a class of the wrong kind is refused with a one-line `UserError`
naming the key, and `tui-trainer check` makes the same check, so it never calls such a config
valid.

The base class is compared by its qualified name along the MRO, so this module needs no torch
(a module defining an `nn.Module` has imported torch itself).
"""

from __future__ import annotations

import importlib
import inspect
import re
from typing import Any

from tui_trainer.errors import UserError

TORCH_MODULE = "torch.nn.modules.module.Module"
_SPEC = re.compile(r"^[A-Za-z_][\w]*(\.[A-Za-z_][\w]*)*:[A-Za-z_][\w]*(\.[A-Za-z_][\w]*)*$")


def is_code_name(name: str) -> bool:
    """Whether a name has the `module:Class` form (as opposed to a built-in model name)."""
    return ":" in name


def _qualname(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def subclasses_by_name(cls: type, base: str) -> bool:
    """Whether `cls` has a class called `base` (module.QualName) in its MRO."""
    return any(_qualname(c) == base for c in inspect.getmro(cls))


def import_class(
    spec: str, key: str, base: str = TORCH_MODULE, what: str = "torch.nn.Module"
) -> type:
    """The class `spec` ("package.module:Class", nested "Outer.Inner" allowed) names.

    Raises UserError naming `key` when the module cannot be imported (any error while its code
    runs), the attribute is missing, it is not a class, or it does not subclass `base`.
    """
    if not _SPEC.match(spec):
        raise UserError(f"'{spec}' is not of the form package.module:ClassName", key=key)
    module_name, _, attr_path = spec.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        raise UserError(f"cannot import '{spec}': no module named '{exc.name}'", key=key) from None
    except Exception as exc:  # the module's own code failed: SyntaxError, NameError, ...
        detail = " ".join(str(exc).split())
        raise UserError(
            f"importing module '{module_name}' failed: {type(exc).__name__}: {detail}",
            key=key,
        ) from None
    obj: object = module
    for part in attr_path.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise UserError(
                f"module '{module_name}' has no attribute '{attr_path}'",
                key=key,
            ) from None
    if not inspect.isclass(obj):
        kind = "function" if inspect.isroutine(obj) else type(obj).__name__
        raise UserError(f"'{spec}' is a {kind}, expected a {what} subclass", key=key)
    if not subclasses_by_name(obj, base):
        raise UserError(f"class '{spec}' is not a {what} subclass", key=key)
    return obj


MODEL_FILLS = ("num_classes", "in_channels")
"""The arguments a run fills into a user's model class (where its constructor takes them)."""
METRIC_FILLS = ("num_classes", "task")
"""The arguments a run fills into a user's torchmetrics class."""


def fill_in(
    kwargs: dict[str, Any], params: Any, names: tuple[str, ...], values: tuple[Any, ...]
) -> dict[str, Any]:
    """`kwargs` plus each of `names` (= `values`) the constructor takes (`params`, its
    signature's parameters) and the user did not give."""
    out = dict(kwargs)
    for name, value in zip(names, values, strict=True):
        if name in params and name not in out:
            out[name] = value
    return out
