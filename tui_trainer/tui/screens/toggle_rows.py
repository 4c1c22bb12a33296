"""The setup screen's toggle rows (widgets only; `SetupScreen` fills and reads them)."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widget import Widget
from textual.widgets import Button, Checkbox, Input, Label, RadioButton, RadioSet, Select, Static

from tui_trainer.tui.form import PRECISIONS, SCHEDULERS

PLAIN_FIELDS = (
    ("epochs", "Epochs", "incl. frozen phase"),
    ("batch_size", "Batch size", "per micro-batch"),
    ("lr", "Learning rate", "base learning rate"),
)


def toggle_rows() -> ComposeResult:
    """The toggles, each with its error slot below it, then messages, the command and Start."""

    def row(key: str, hint: str, *widgets: Widget, id: str | None = None) -> Horizontal:
        label = Label(key, classes="key")
        return Horizontal(label, *widgets, Static(hint, classes="hint"), classes="row", id=id)

    def number(name: str, placeholder: str = "") -> Input:
        return Input(id=f"f-{name}", placeholder=placeholder, compact=True, classes="num")

    path = Input(id="f-data_root", placeholder="folder", compact=True, classes="path")
    yield row("Data folder", "data.root", path, id="row-data_root")
    yield from error_slots("data_root")
    yield row("Image size", "square, in pixels", number("image_size"), id="row-image_size")
    yield from error_slots("image_size")
    yield row(
        "Freeze backbone",
        "head only, first N epochs",
        Checkbox("off", id="f-freeze", compact=True),
        Label("frozen epochs", classes="subkey"),
        number("freeze_epochs", "all"),
    )
    yield from error_slots("freeze", "freeze_epochs")
    radios = [RadioButton(name, id=f"p-{name}", compact=True) for name in PRECISIONS]
    yield row(
        "Precision",
        "fp16: CUDA only",
        RadioSet(*radios, id="f-precision", compact=True),
    )
    yield from error_slots("precision")
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
    yield from error_slots("scheduler", "scheduler_param")
    yield row("Warm-up", "epochs of linear warm-up", number("warmup"))
    yield from error_slots("warmup")
    yield row(
        "Accumulate",
        "micro-batches per step",
        number("accumulate"),
        Static("", id="effective-batch"),
    )
    yield from error_slots("accumulate")
    for name, label, hint in PLAIN_FIELDS:
        finder = [Button("Find LR", id="find-lr", compact=True, tooltip="LR range test (f6)")]
        finder = finder if name == "lr" else []
        yield row(label, hint, number(name), *finder)
        yield from error_slots(name)
    yield row("Clip gradients", "max total norm", number("clip_grad_norm", "off"))
    yield from error_slots("clip_grad_norm")
    yield row("Early stop", "epochs w/o gain", number("early_stop", "off"))
    yield from error_slots("early_stop")
    yield row(
        "EMA weights",
        "validate with EMA",
        Checkbox("off", id="f-ema", compact=True),
        Label("decay", classes="subkey"),
        number("ema_decay"),
    )
    yield from error_slots("ema", "ema_decay")
    yield row("Compile", "torch.compile", Checkbox("off", id="f-compile", compact=True))
    yield from error_slots("compile")
    yield Static("", id="general-error", classes="field-error", markup=False)
    yield Static("", id="warnings", markup=False)
    yield Static("", id="command", markup=False)
    yield Horizontal(
        Button("Start ▶", id="start", variant="success", compact=True),
        Button("Start in background", id="start-bg", compact=True),
        Button("Reset", id="reset", compact=True, tooltip="the preset's own values (f2)"),
        id="start-row",
    )


def error_slots(*names: str) -> ComposeResult:
    """An (empty, hidden until needed) error line per field."""
    for name in names:
        yield Static("", id=f"err-{name}", classes="field-error", markup=False)
