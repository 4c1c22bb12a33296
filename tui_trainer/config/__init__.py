"""Run configuration: typed schema, YAML loading, presets and dotted overrides."""

from tui_trainer.config.loader import load_config, parse_overrides, resolve_preset
from tui_trainer.config.schema import RunConfig

__all__ = ["RunConfig", "load_config", "parse_overrides", "resolve_preset"]
