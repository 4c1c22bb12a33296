"""The setup screen exposes clipping, early stopping, EMA and compile (form and Pilot)."""

from __future__ import annotations

import pytest
from support.pilot import run, run_screen, wait_for, wait_for_text
from support.scripted import ScriptedExecutor
from test_tui_app import make_app, presets  # noqa: F401
from textual.widgets import Checkbox, Input

from tui_trainer.config import load_config
from tui_trainer.config.loader import PresetInfo
from tui_trainer.errors import UserError
from tui_trainer.tui.form import FormValues, validate
from tui_trainer.tui.screens.run import RunScreen


def test_form_turns_the_new_toggles_into_overrides() -> None:
    base, _ = load_config("quickstart", [])
    values = FormValues.from_config(base)
    assert (values.clip_grad_norm, values.early_stop, values.ema, values.compile) == (
        "",
        "",
        False,
        False,
    )
    values.clip_grad_norm, values.early_stop = "1.5", "3"
    values.ema, values.ema_decay, values.compile = True, "0.99", True
    result = validate("quickstart", base, values, [])
    assert result.ok, result
    assert result.overrides == [
        "optim.clip_grad_norm=1.5",
        "early_stop.patience=3",
        "ema.enabled=true",
        "ema.decay=0.99",
        "compile=true",
    ]
    config = result.config
    assert config is not None
    assert config.optim.clip_grad_norm == 1.5 and config.early_stop.patience == 3
    assert config.ema.enabled and config.ema.decay == 0.99 and config.compile
    # Emptying a field again means off (null), and makes no override against an "off" preset.
    values.clip_grad_norm = values.early_stop = ""
    assert "clip_grad_norm" not in values.field_overrides(base)
    on, _ = load_config("quickstart", ["optim.clip_grad_norm=2", "early_stop.patience=4"])
    assert FormValues.from_config(on).field_overrides(on) == {}
    off = FormValues.from_config(on)
    off.clip_grad_norm = off.early_stop = ""
    assert off.field_overrides(on) == {
        "clip_grad_norm": ["optim.clip_grad_norm=null"],
        "early_stop": ["early_stop.patience=null"],
    }


def test_bad_toggle_values_are_flagged_on_their_field() -> None:
    base, _ = load_config("quickstart", [])
    values = FormValues.from_config(base)
    values.clip_grad_norm, values.early_stop, values.ema_decay = "-1", "0", "1.5"
    result = validate("quickstart", base, values, [])
    assert not result.ok
    for field, item in [
        ("clip_grad_norm", "optim.clip_grad_norm=-1"),
        ("early_stop", "early_stop.patience=0"),
        ("ema_decay", "ema.decay=1.5"),
    ]:
        with pytest.raises(UserError) as cli:
            load_config("quickstart", [item])
        assert result.errors[field] == str(cli.value)


def test_command_line_overrides_fill_the_new_toggles() -> None:
    base, _ = load_config("quickstart", [])
    values, rest = FormValues.from_config(base).with_overrides(
        ["compile=true", "ema.enabled=true", "early_stop.patience=2", "optim.clip_grad_norm=5"]
    )
    assert (values.compile, values.ema, values.early_stop, values.clip_grad_norm) == (
        True,
        True,
        "2",
        "5",
    )
    assert rest == []
    _, rest = FormValues.from_config(base).with_overrides(["compile=maybe"])
    assert rest == ["compile=maybe"]  # left for validation to report


def test_setup_screen_starts_a_run_with_the_new_toggles(presets: list[PresetInfo]) -> None:  # noqa: F811
    async def scenario() -> None:
        app = make_app(presets, ScriptedExecutor())
        async with app.run_test(size=(120, 40)) as pilot:
            setup = app.screen
            decay = setup.query_one("#f-ema_decay", Input)
            assert decay.disabled  # only with EMA on
            setup.query_one("#f-ema", Checkbox).value = True
            setup.query_one("#f-compile", Checkbox).value = True
            await wait_for(pilot, lambda: not decay.disabled)
            for name, text in (("clip_grad_norm", "2.5"), ("early_stop", "4")):
                box = setup.query_one(f"#f-{name}", Input)
                box.focus()
                await pilot.press(*text)
            await wait_for_text(pilot, "optim.clip_grad_norm=2.5 early_stop.patience=4")
            await pilot.press("ctrl+r")
            await wait_for(pilot, lambda: any(isinstance(s, RunScreen) for s in app.screen_stack))
            config = run_screen(app).request.config
            assert config.optim.clip_grad_norm == 2.5 and config.early_stop.patience == 4
            assert config.ema.enabled and config.compile

    run(scenario())
