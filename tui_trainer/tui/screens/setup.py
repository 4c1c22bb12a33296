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
from textual.widget import Widget
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
from tui_trainer.formatting import plain_value
from tui_trainer.tui.form import (
    BOOL_FIELDS,
    FIELD_KEYS,
    PRECISIONS,
    SCHEDULER_PARAM,
    SCHEDULERS,
    TEXT_FIELDS,
    FormValues,
    Validation,
    validate,
)
from tui_trainer.tui.screens.run import RunRequest

ERROR_FIELDS = (*FIELD_KEYS, "scheduler_param")
INPUT_FIELDS = TEXT_FIELDS
PLAIN_FIELDS = (
    ("epochs", "Epochs", "incl. frozen phase"),
    ("batch_size", "Batch size", "per micro-batch"),
    ("lr", "Learning rate", "base learning rate"),
)
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
    """The selected preset's key settings, one per line."""
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
    lines += [Content.assemble((k.ljust(KEY_WIDTH), "$text-muted"), v) for k, v in rows]
    return Content("\n").join(lines)


class SetupScreen(Screen[None]):
    """Preset list, key settings, toggles and Start."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+r", "start", "Start", priority=True),
        Binding("ctrl+b", "start_background", "Start in background", priority=True),
        Binding("f1", "app.help", "Help"),
        Binding("ctrl+q", "app.quit", "Quit"),
    ]

    class StartRequested(Message):
        """The user asked to start a valid run."""

        def __init__(self, request: RunRequest, background: list[str] | None = None) -> None:
            super().__init__()
            self.request = request
            self.background = background  # `tui-trainer ARGV` to start detached, then watch

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
        self.validation: Validation | None = None
        self._checked: tuple[object, ...] = ()

    def _find(self, selected: str | None) -> int:
        for i, info in enumerate(self.presets):
            if selected in (info.name, str(info.path)) or (
                selected and Path(selected).resolve() == info.path.resolve()
            ):
                return i
        return 0

    @property
    def preset(self) -> PresetInfo | None:
        """The highlighted preset."""
        return self.presets[self.index] if self.presets else None

    # -- layout ----------------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        """Preset list and key settings on the left, toggles on the right."""
        with Horizontal(id="setup-header"):
            yield Static("tui-trainer  ·  new run", id="setup-title")
            yield Static("ctrl+r start · f1 help", id="setup-hint")
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
                yield from self._compose_form()
        yield Footer()

    def _compose_form(self) -> ComposeResult:
        def row(key: str, hint: str, *widgets: Widget) -> Horizontal:
            label = Label(key, classes="key")
            return Horizontal(label, *widgets, Static(hint, classes="hint"), classes="row")

        def number(name: str, placeholder: str = "") -> Input:
            return Input(id=f"f-{name}", placeholder=placeholder, compact=True, classes="num")

        yield row(
            "Freeze backbone",
            "head only, first N epochs",
            Checkbox("off", id="f-freeze", compact=True),
            Label("frozen epochs", classes="subkey"),
            number("freeze_epochs", "all"),
        )
        yield from self._error_slots("freeze", "freeze_epochs")
        radios = [RadioButton(name, id=f"p-{name}", compact=True) for name in PRECISIONS]
        yield row(
            "Precision",
            "fp16: CUDA only",
            RadioSet(*radios, id="f-precision", compact=True),
        )
        yield from self._error_slots("precision")
        yield row(
            "Scheduler",
            "LR schedule",
            Select(
                [(name, name) for name in SCHEDULERS],
                id="f-scheduler",
                allow_blank=False,
                compact=True,
            ),
            Label("", id="param-label", classes="subkey"),
            number("scheduler_param"),
        )
        yield from self._error_slots("scheduler", "scheduler_param")
        yield row(
            "Accumulate",
            "micro-batches per step",
            number("accumulate"),
            Static("", id="effective-batch"),
        )
        yield from self._error_slots("accumulate")
        for name, label, hint in PLAIN_FIELDS:
            yield row(label, hint, number(name))
            yield from self._error_slots(name)
        yield row("Clip gradients", "max total norm", number("clip_grad_norm", "off"))
        yield from self._error_slots("clip_grad_norm")
        yield row("Early stop", "epochs w/o gain", number("early_stop", "off"))
        yield from self._error_slots("early_stop")
        yield row(
            "EMA weights",
            "validate with EMA",
            Checkbox("off", id="f-ema", compact=True),
            Label("decay", classes="subkey"),
            number("ema_decay"),
        )
        yield from self._error_slots("ema", "ema_decay")
        yield row("Compile", "torch.compile", Checkbox("off", id="f-compile", compact=True))
        yield from self._error_slots("compile")
        yield Static("", id="general-error", classes="field-error", markup=False)
        yield Static("", id="warnings", markup=False)
        yield Static("", id="command", markup=False)
        yield Horizontal(
            Button("Start ▶", id="start", variant="success", compact=True),
            Button("Start in background", id="start-bg", compact=True),
            id="start-row",
        )

    def _error_slots(self, *names: str) -> ComposeResult:
        for name in names:
            yield Static("", id=f"err-{name}", classes="field-error", markup=False)

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
            self.index = index
            self._load_preset()

    @on(OptionList.OptionSelected, "#presets")
    def _preset_selected(self) -> None:
        self.query_one("#f-freeze").focus()

    def _load_preset(self) -> None:
        """Resolve the highlighted preset and put its values into the toggles."""
        info = self.preset
        assert info is not None
        try:
            self.base, _name = load_config(info.path, self.extra)
        except UserError as exc:
            self.base = None
            self.query_one("#preset-info", Static).update(Content.styled(str(exc), "$error"))
            self._show_validation(Validation(None, [], {}, str(exc)))
            return
        self.query_one("#preset-info", Static).update(key_settings(self.base, info))
        self.query_one("#preset-info", Static).border_title = info.name
        values, _ = FormValues.from_config(self.base).with_overrides(self.cli_overrides)
        self._fill(values)

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
        self.post_message(self.StartRequested(request, argv))

    def action_start_background(self) -> None:
        """Start the run as `run --detach` does (it survives this terminal), then watch it."""
        self.action_start(background=True)

    @on(Button.Pressed, "#start-bg")
    def _start_bg_pressed(self) -> None:
        self.action_start_background()

    @on(Button.Pressed, "#start")
    def _start_pressed(self) -> None:
        self.action_start()
