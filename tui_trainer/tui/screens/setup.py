"""The setup screen: pick a preset, see its key settings, flip the toggles, start.

Every change is checked with `load_config` at once; a bad value is flagged under its toggle with
the exact message the CLI prints, and Start stays refused until everything is valid.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.content import Content
from textual.message import Message
from textual.screen import Screen
from textual.widgets import (
    Button,
    Checkbox,
    Footer,
    Input,
    Label,
    OptionList,
    RadioButton,
    RadioSet,
    Select,
    Static,
)
from textual.widgets.option_list import Option

from tui_trainer.config import RunConfig, load_config
from tui_trainer.config.loader import PresetInfo
from tui_trainer.config.tasks import effective_batch
from tui_trainer.errors import UserError
from tui_trainer.tui.form import (
    BOOL_FIELDS,
    FIELD_KEYS,
    SCHEDULER_PARAM,
    TEXT_FIELDS,
    FormValues,
    Validation,
    refused,
    uses_data_root,
    uses_image_size,
    validate,
)
from tui_trainer.tui.preset_info import key_settings, preset_label
from tui_trainer.tui.screens.find_lr import FindLRScreen
from tui_trainer.tui.screens.run import RunRequest
from tui_trainer.tui.screens.toggle_rows import toggle_rows
from tui_trainer.tui.state import DEFAULT_PRESET

ERROR_FIELDS = (*FIELD_KEYS, "scheduler_param")
INPUT_FIELDS = TEXT_FIELDS


class SetupScreen(Screen[None]):
    """Preset list, key settings, toggles and Start."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+r", "start", "Start", priority=True),
        Binding("ctrl+b", "start_background", "In background", priority=True),
        Binding("f2", "reset", "Reset toggles"),
        # the Find LR button beside the LR field says so (the footer has no room at 80x24)
        Binding("f6", "find_lr", "Find LR", show=False),
        Binding("f1", "app.help", "Help"),
        # priority: shown in the footer (the app's own hidden priority ctrl+q hid it there)
        # and it quits while a text field has focus; a plain q types into the field.
        Binding("ctrl+q", "app.quit", "Quit", priority=True),
    ]

    class StartRequested(Message):
        """The user asked to start a valid run."""

        def __init__(
            self, request: RunRequest, background: list[str] | None = None, preset: str = ""
        ) -> None:
            super().__init__()
            self.request = request
            self.background = background  # `tui-trainer ARGV` to start detached, then watch
            self.preset = preset  # as the command line names it (remembered once it runs)

    def __init__(
        self,
        presets: list[PresetInfo],
        *,
        selected: str | None = None,
        overrides: list[str] | None = None,
        out: str | None = None,
        autostart: bool = False,
    ) -> None:
        super().__init__()
        self.autostart = autostart
        self.presets = presets
        self.cli_overrides = list(overrides or [])
        self.out = out
        self.index = self._find(selected)
        self.base: RunConfig | None = None
        # Command-line overrides a toggle shows go into the form; the others pass through.
        self.extra = FormValues().with_overrides(self.cli_overrides)[1]
        self.values = FormValues()
        self.loaded = FormValues()  # the highlighted preset's own values (plus command line)
        self.drafts: dict[int, FormValues] = {}  # edited toggles of presets left for another
        self.edited_marks: set[int] = set()  # presets tagged "edited" in the list
        self.validation: Validation | None = None
        self._checked: tuple[object, ...] = ()

    def _find(self, selected: str | None) -> int:
        for i, info in enumerate(self.presets):
            if selected in (info.name, str(info.path)) or (
                selected and Path(selected).resolve() == info.path.resolve()
            ):
                return i
        names = [info.name for info in self.presets]
        return names.index(DEFAULT_PRESET) if DEFAULT_PRESET in names else 0

    @property
    def preset(self) -> PresetInfo | None:
        """The highlighted preset."""
        return self.presets[self.index] if self.presets else None

    # -- layout ----------------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        """Preset list and key settings on the left, toggles on the right."""
        with Horizontal(id="setup-header"):
            yield Static("tui-trainer  ·  new run", id="setup-title")
            # (ctrl+q quit: in the footer)
            yield Static("ctrl+r start · f3 runs · f4 queue · f1 help", id="setup-hint")
        with Horizontal(id="setup-body"):
            with Vertical(id="setup-left"):
                options = [Option(preset_label(p), id=str(i)) for i, p in enumerate(self.presets)]
                presets = OptionList(*options, id="presets", classes="panel", compact=True)
                presets.border_title = "Presets"
                yield presets
                info = Static("", id="preset-info", classes="panel")
                info.border_title = "Settings"
                yield info
            with VerticalScroll(id="setup-form", classes="panel") as form:
                form.border_title = "Toggles"
                form.can_focus = False  # its fields are the stops; focusing one scrolls to it
                yield from toggle_rows()
        yield Footer()

    def on_resize(self) -> None:
        """A smaller list (the tiny layout) still shows the highlighted preset."""
        presets = self.query_one("#presets", OptionList)
        self.call_after_refresh(presets.scroll_to_highlight)

    def on_mount(self) -> None:
        """Select the initial preset and fill the toggles from it (plus command-line overrides)."""
        presets = self.query_one("#presets", OptionList)
        if self.presets:
            presets.highlighted = self.index
            self._load_preset()
        else:
            self.query_one("#preset-info", Static).update("no presets found")
        presets.focus()
        if self.autostart:
            self.action_start()

    # -- preset → form ---------------------------------------------------------------------------
    @on(OptionList.OptionHighlighted, "#presets")
    def _preset_highlighted(self, event: OptionList.OptionHighlighted) -> None:
        index = int(event.option.id or 0)
        if index != self.index and event.option_index == event.option_list.highlighted:
            self._keep_draft()
            self.index = index
            self._load_preset()

    def _keep_draft(self) -> None:
        """Leaving a preset: keep its edited toggles for when it is highlighted again."""
        edited = self.base is not None and self.values != self.loaded
        if edited:
            self.drafts[self.index] = replace(self.values, params=dict(self.values.params))
        else:
            self.drafts.pop(self.index, None)
        self._mark_edited(self.index, edited)

    def _mark_edited(self, index: int, edited: bool) -> None:
        self.edited_marks = self.edited_marks | {index} if edited else self.edited_marks - {index}
        label = preset_label(self.presets[index])
        if edited:
            label = Content.assemble(label, ("  edited", "$warning"))
        self.query_one("#presets", OptionList).replace_option_prompt_at_index(index, label)

    def action_reset(self) -> None:
        """f2: the highlighted preset's own values again (command-line overrides included)."""
        if self.base is not None:
            self.drafts.pop(self.index, None)
            self._mark_edited(self.index, False)
            self._fill(replace(self.loaded, params=dict(self.loaded.params)))

    @on(Button.Pressed, "#reset")
    def _reset_pressed(self) -> None:
        self.action_reset()

    @on(OptionList.OptionSelected, "#presets")
    def _preset_selected(self) -> None:
        self.query_one("#f-freeze").focus()

    def _load_preset(self) -> None:
        """Resolve the highlighted preset and put its values into the toggles."""
        info = self.preset
        assert info is not None
        panel = self.query_one("#preset-info", Static)
        panel.border_title = info.name  # also over a preset that does not load
        try:
            self.base, _name = load_config(info.path, self.extra)
        except UserError as exc:
            self.base = None
            panel.update(Content.styled(str(exc), "$error"))
            self._show_validation(Validation(None, [], {}, str(exc)))
            return
        panel.update(key_settings(self.base, info))
        self.loaded, _ = FormValues.from_config(self.base).with_overrides(self.cli_overrides)
        sized = uses_image_size(self.base) or bool(self.loaded.image_size)  # or set on the CLI
        self.query_one("#row-image_size").display = sized
        self.query_one("#row-data_root").display = uses_data_root(self.base)
        draft = self.drafts.get(self.index)
        self._fill(replace(draft or self.loaded, params=dict((draft or self.loaded).params)))
        if draft is not None:
            self.notify(f"{info.name}: your edited toggles are back (f2 resets them).", timeout=4)

    def _fill(self, values: FormValues) -> None:
        """Show `values` in the toggles (their Changed messages are for a person's edits)."""
        self.values = values
        with self.prevent(Input.Changed, Select.Changed, Checkbox.Changed, RadioSet.Changed):
            for name in BOOL_FIELDS:
                self.query_one(f"#f-{name}", Checkbox).value = getattr(values, name)
            for name in INPUT_FIELDS:
                self.query_one(f"#f-{name}", Input).value = getattr(values, name)
            self.query_one(f"#p-{values.precision}", RadioButton).value = True
            self.query_one("#f-scheduler", Select).value = values.scheduler
            self._show_scheduler_param()
        self._show_freeze()
        self._revalidate()

    def _show_freeze(self) -> None:
        """Checkbox labels, and the inputs that only apply while their checkbox is on."""
        for name in BOOL_FIELDS:
            self.query_one(f"#f-{name}", Checkbox).label = (
                "on" if getattr(self.values, name) else "off"
            )
        self.query_one("#f-freeze_epochs", Input).disabled = not self.values.freeze
        self.query_one("#f-ema_decay", Input).disabled = not self.values.ema

    def _show_scheduler_param(self) -> None:
        name = self.values.scheduler
        label = self.query_one("#param-label", Label)
        box = self.query_one("#f-scheduler_param", Input)
        has_param = name in SCHEDULER_PARAM
        label.display = box.display = has_param
        if has_param:
            label.update(SCHEDULER_PARAM[name][1])
            box.placeholder = "= lr" if name == "onecycle" else ""
            box.value = self.values.params.get(name, "")

    # -- toggles → validation --------------------------------------------------------------------
    @on(Input.Changed)
    @on(Checkbox.Changed)
    @on(RadioSet.Changed)
    @on(Select.Changed)
    def _toggle_changed(self) -> None:
        """A person changed a toggle: read them all back (widgets hold the truth) and check."""
        v = self.values
        for name in BOOL_FIELDS:
            setattr(v, name, self.query_one(f"#f-{name}", Checkbox).value)
        for name in INPUT_FIELDS:
            setattr(v, name, self.query_one(f"#f-{name}", Input).value)
        pressed = self.query_one("#f-precision", RadioSet).pressed_button
        if pressed is not None:
            v.precision = str(pressed.label)
        scheduler = self.query_one("#f-scheduler", Select).value
        if scheduler is not Select.NULL and scheduler != v.scheduler:
            v.scheduler = str(scheduler)
            with self.prevent(Input.Changed):
                self._show_scheduler_param()
        elif v.scheduler in SCHEDULER_PARAM:
            v.params[v.scheduler] = self.query_one("#f-scheduler_param", Input).value
        self._show_freeze()
        self._revalidate()
        edited = self.values != self.loaded
        if edited != (self.index in self.edited_marks):
            self._mark_edited(self.index, edited)

    @on(Input.Submitted)
    def _input_submitted(self) -> None:
        self.focus_next()

    def _revalidate(self) -> None:
        """Check the toggles again, unless nothing changed since the last check."""
        info = self.preset
        if info is None or self.base is None:
            return
        checked = (info.path, self.base, replace(self.values, params=dict(self.values.params)))
        if checked == self._checked:
            return
        self._checked = checked
        self._show_validation(validate(info.path, self.base, self.values, self.extra))

    def _show_validation(self, result: Validation) -> None:
        self.validation = result
        for name in ERROR_FIELDS:
            message = result.errors.get(name, "")
            slot = self.query_one(f"#err-{name}", Static)
            slot.update(f"✖ {message}" if message else "")
            slot.display = bool(message)
            widget = self.query(f"#f-{name}")
            if widget:
                widget.first().set_class(bool(message), "-invalid")
        general = self.query_one("#general-error", Static)
        general.update(f"✖ {result.general}" if result.general else "")
        general.display = bool(result.general)
        warnings = self.query_one("#warnings", Static)
        warnings.update("\n".join(f"▲ {w}" for w in result.warnings))
        warnings.display = bool(result.warnings)
        self.query_one("#start", Button).disabled = not result.ok
        self.query_one("#start-bg", Button).disabled = not result.ok
        info = self.preset
        if result.config is not None and info is not None:  # what Start runs: toggles included
            self.query_one("#preset-info", Static).update(key_settings(result.config, info))
        self._show_effective_batch()
        self._show_command(result)

    def _show_effective_batch(self) -> None:
        try:
            batch, steps = int(self.values.batch_size), int(self.values.accumulate)
        except ValueError:
            text = ""
        else:
            text = f"effective batch {effective_batch(batch, steps)}"
        self.query_one("#effective-batch", Static).update(text)

    def _preset_arg(self, info: PresetInfo) -> str:
        return info.name if info.bundled or info.path.parent.name == "presets" else str(info.path)

    def _show_command(self, result: Validation) -> None:
        info = self.preset
        text = ""
        if info is not None and result.ok:
            text = " ".join(["$ tui-trainer run", self._preset_arg(info), *result.overrides])
        self.query_one("#command", Static).update(text)

    # -- start -----------------------------------------------------------------------------------
    def action_start(self, background: bool = False) -> None:
        """Start the run (here, or in the background), or say what to fix first."""
        self._checked = ()  # check again: a missing folder may have appeared meanwhile
        self._revalidate()
        result, info = self.validation, self.preset
        if result is None or not result.ok or info is None or result.config is None:
            self.app.bell()
            self.notify("Fix the values marked in red first.", severity="error", timeout=3)
            return
        request = RunRequest(result.config, result.name, list(result.overrides), self.out)
        argv = None
        if background:
            argv = ["run", self._preset_arg(info), *result.overrides]
            argv += ["--out", self.out] if self.out else []
        self.post_message(self.StartRequested(request, argv, self._preset_arg(info)))

    def refuse(self, error: UserError) -> None:
        """The run refused to start (its own checks, nothing written): show why on the form."""
        if self.validation is not None:
            self._show_validation(refused(self.validation, error))
        self.app.bell()
        self.notify(f"Not started: {error}", severity="error", timeout=8)

    def action_start_background(self) -> None:
        """Start the run as `run --detach` does (it survives this terminal), then watch it."""
        self.action_start(background=True)

    @on(Button.Pressed, "#start-bg")
    def _start_bg_pressed(self) -> None:
        self.action_start_background()

    @on(Button.Pressed, "#start")
    def _start_pressed(self) -> None:
        self.action_start()

    # -- LR finder -------------------------------------------------------------------------------
    def action_find_lr(self) -> None:
        """f6: the LR range test on the toggles' config; "Use it" fills the LR field."""
        self._checked = ()
        self._revalidate()
        result = self.validation
        if result is None or not result.ok or result.config is None:
            self.app.bell()
            self.notify("Fix the values marked in red first.", severity="error", timeout=3)
            return
        self.app.push_screen(FindLRScreen(result.config, result.name), self._use_lr)

    def _use_lr(self, lr: float | None) -> None:
        """The finder's suggestion into the LR field (checked like a typed value)."""
        if lr is not None:
            self.query_one("#f-lr", Input).value = f"{lr:g}"
            self.notify(f"learning rate set to {lr:g} (from the LR range test)", timeout=4)

    @on(Button.Pressed, "#find-lr")
    def _find_lr_pressed(self) -> None:
        self.action_find_lr()
