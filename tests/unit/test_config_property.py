"""Property: whatever bytes, YAML or overrides come in, config loading gives a valid config or a
one-line `UserError`, never another exception, within a time and memory bound.

A valid result must also survive what a run does with it: dumped to config.yaml and loaded
again (replay), it gives the same config.
"""

from __future__ import annotations

import inspect
import os
import time
import tracemalloc
import typing
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from tui_trainer.config import RunConfig, load_config
from tui_trainer.config.yaml_safe import parse_yaml_text
from tui_trainer.errors import UserError

SETTINGS = settings(
    # A soak run: CONFIG_PROPERTY_EXAMPLES=2000 python -m pytest tests/test_config_property.py
    max_examples=int(os.environ.get("CONFIG_PROPERTY_EXAMPLES", "60")),
    deadline=None,  # the time bound is asserted below, generous for a busy shared machine
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
TIME_LIMIT = 5.0  # seconds per example (unbounded aliases would take minutes and gigabytes)
MEMORY_LIMIT = 32 * 1024 * 1024  # bytes allocated at peak while loading one example


def _keys(model: type[BaseModel] = RunConfig, prefix: str = "") -> list[str]:
    out = []
    for name, field in model.model_fields.items():
        out.append(prefix + name)
        candidates = [field.annotation, *typing.get_args(field.annotation)]
        sub = next((c for c in candidates if inspect.isclass(c) and issubclass(c, BaseModel)), None)
        if sub is not None:
            out += _keys(sub, f"{prefix}{name}.")
    return out


KEYS = _keys()
NAMES = sorted({k.rsplit(".", 1)[-1] for k in KEYS})

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.sampled_from(["digits", "small_cnn", "adam", "cosine", "bf16", "cpu", "fake", "*"]),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.one_of(st.sampled_from(NAMES), st.text(max_size=6)), inner, max_size=4),
    ),
    max_leaves=12,
)
documents = st.dictionaries(st.sampled_from(NAMES), values, max_size=6)


def _nested(dotted: str, value: object) -> dict:
    out: dict = {}
    node = out
    parts = dotted.split(".")
    for part in parts[:-1]:
        node = node.setdefault(part, {})
    node[parts[-1]] = value
    return out


def _as_yaml(value: object) -> str:
    return (
        yaml.safe_dump(value, default_flow_style=True, width=10_000)
        .strip()
        .removesuffix("...")
        .strip()
    )


override_values = st.one_of(
    values.map(_as_yaml),
    st.text(max_size=20),
    st.sampled_from(
        ["", "{}", "null", "[", "{a: 1, a: 2}", ".inf", "1e-3", "&a [*a]", "yes", "0x1f", "1:20"]
    ),
)
overrides = st.lists(
    st.one_of(
        st.tuples(st.sampled_from(KEYS), override_values).map(lambda kv: f"{kv[0]}={kv[1]}"),
        st.text(max_size=20),
    ),
    max_size=4,
)

# Alias-heavy YAML: anchors referring to earlier anchors (expansion grows as width**depth).
aliases = st.builds(
    lambda width, depth, key: "\n".join(
        [f"{key}: &a0 [x]"]
        + [f"k{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * width) + "]" for i in range(1, depth)]
    ),
    st.integers(1, 12),
    st.integers(1, 12),
    st.sampled_from(["description", "notes", "data", "model"]),
)


def _bounded(load: typing.Callable[[], object]) -> object:
    """Run `load`: a RunConfig or a UserError, within the time and memory bound."""
    tracemalloc.start()
    t0 = time.perf_counter()
    try:
        result = load()
    except UserError as exc:
        result = exc
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    assert time.perf_counter() - t0 < TIME_LIMIT
    assert peak < MEMORY_LIMIT, f"{peak:,} bytes at peak"
    if isinstance(result, UserError):
        message = str(result)
        assert message and "\n" not in message and "Traceback" not in message
        return result
    config, _name = result
    assert isinstance(config, RunConfig)
    _replays(config)
    return config


def _replays(config: RunConfig) -> None:
    """The resolved config, as config.yaml holds it, loads back to the same config."""
    dumped = yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False)
    again = RunConfig.model_validate(parse_yaml_text(dumped, "config.yaml").data)
    assert again == config


def _write(tmp_path: Path, data: bytes) -> Path:
    path = tmp_path / "p.yaml"
    path.write_bytes(data)
    return path


@SETTINGS
@given(data=st.binary(max_size=300))
def test_arbitrary_bytes(tmp_path: Path, data: bytes) -> None:
    path = _write(tmp_path, data)
    _bounded(lambda: load_config(path))


@SETTINGS
@given(doc=documents, extra=overrides)
def test_yaml_documents_and_overrides(tmp_path: Path, doc: dict, extra: list[str]) -> None:
    path = _write(tmp_path, yaml.safe_dump(doc, allow_unicode=True).encode())
    _bounded(lambda: load_config(path, extra))


@SETTINGS
@given(key=st.sampled_from(KEYS), value=values, extra=overrides)
def test_one_key_in_a_real_preset(
    tmp_path: Path, key: str, value: object, extra: list[str]
) -> None:
    """Mostly valid presets with one key changed: the valid-config side gets exercised too."""
    base = {"data": {"name": "digits", "batch_size": 16}, "epochs": 2}
    doc = {**base, **_nested(key, value)}
    path = _write(tmp_path, yaml.safe_dump(doc).encode())
    _bounded(lambda: load_config(path, extra))


@SETTINGS
@given(text=aliases, junk=st.text(max_size=30))
def test_aliases_and_mangled_text(tmp_path: Path, text: str, junk: str) -> None:
    path = _write(tmp_path, (text + "\n" + junk).encode("utf-8", "surrogatepass"))
    _bounded(lambda: load_config(path))


@SETTINGS
@given(extra=overrides)
def test_overrides_on_a_bundled_preset(extra: list[str]) -> None:
    _bounded(lambda: load_config("quickstart", extra))


def test_valid_configs_are_reached() -> None:
    """The properties above are not vacuous: a plain preset and overrides give a config."""
    result = _bounded(lambda: load_config("quickstart", ["optim.lr=1e-3", "epochs=2"]))
    assert isinstance(result, RunConfig) and result.optim.lr == pytest.approx(1e-3)
