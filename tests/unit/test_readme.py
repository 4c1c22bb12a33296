"""README and the docs stay in step with the code: every config key is in the (generated) config
reference, CI runs the README's test command, and the README stays a short entry point."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel

from tui_trainer.config.schema import RunConfig

ROOT = Path(__file__).resolve().parents[2]


def _keys(model: type[BaseModel], prefix: str = "") -> list[str]:
    keys = []
    for name, field in model.model_fields.items():
        keys.append(prefix + name)
        ann = field.annotation
        for sub in [ann, *getattr(ann, "__args__", ())]:
            if isinstance(sub, type) and issubclass(sub, BaseModel):
                keys += _keys(sub, f"{prefix}{name}.")
    return keys


def test_every_config_key_is_in_the_config_reference():
    reference = (ROOT / "docs" / "reference" / "config.md").read_text()
    missing = [k for k in _keys(RunConfig) if f"`{k}`" not in reference.replace("[].", ".")]
    assert missing == []


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    command = 'python -m pip install -e ".[dev]" && python -m pytest'
    assert command in readme
    assert command in (ROOT / ".ci" / "run").read_text()


def test_the_readme_is_short_and_points_into_the_docs():
    readme = (ROOT / "README.md").read_text()
    assert len(readme.splitlines()) <= 200
    assert "docs/images/run.svg" in readme
    assert "docs/getting-started.md" in readme
