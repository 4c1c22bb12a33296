"""How the setup screen shows a preset: its list entry, where it lives, its key settings."""

from __future__ import annotations

from pathlib import Path

from textual.content import Content

from tui_trainer.config import RunConfig
from tui_trainer.config.code_check import code_keys
from tui_trainer.config.loader import PresetInfo
from tui_trainer.formatting import plain_value

KEY_WIDTH = 10


def preset_label(info: PresetInfo) -> Content:
    """An entry of the preset list: the name, tagged "local" when not bundled."""
    if info.bundled:
        return Content(info.name)
    return Content.assemble(info.name, ("  local", "$text-muted"))


def preset_source(info: PresetInfo) -> str:
    """Where a preset lives, short: "bundled", or its path relative to the working directory."""
    if info.bundled:
        return "bundled"
    try:
        return str(info.path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(info.path)


def key_settings(config: RunConfig, info: PresetInfo) -> Content:
    """The selected preset's key settings, one per line; first, the keys that name Python code."""
    data, opt, sched, freeze = config.data, config.optim, config.scheduler, config.freeze
    if not freeze.enabled:
        frozen = "off"
    elif freeze.epochs:
        frozen = f"first {freeze.epochs} epoch{'s' if freeze.epochs > 1 else ''}"
    else:
        frozen = "whole run"
    size = f" · {data.image_size}px" if data.image_size else ""
    warmup = f" · warm-up {sched.warmup_epochs:g}" if sched.warmup_epochs else ""
    weights = f" · {config.model.weights}" if config.model.weights else ""
    accumulate = f" · accumulate {config.accumulate}" if config.accumulate > 1 else ""
    rows = [
        ("task", config.task),
        ("data", data.name + size),
        ("model", config.model.name + weights),
        ("optimizer", f"{opt.name} · lr {plain_value(opt.lr)}"),
        ("schedule", sched.name + warmup),
        ("epochs", f"{config.epochs} · batch {data.batch_size}"),
        ("precision", config.precision + accumulate),
        ("freeze", frozen),
        ("device", config.device),
        ("from", preset_source(info)),
    ]
    lines = [Content.styled(config.description or "(no description)", "italic $text-muted")]
    code = code_keys(config)
    if code:  # the preset imports and runs the user's modules: said first, seen at 80x24 too
        lines.append(
            Content.assemble(
                ("code".ljust(KEY_WIDTH), "$text-warning"),
                ("names Python code: " + ", ".join(code), "$text-warning"),
            )
        )
    lines += [Content.assemble((k.ljust(KEY_WIDTH), "$text-muted"), v) for k, v in rows]
    return Content("\n").join(lines)
