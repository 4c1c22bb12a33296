"""How the console draws pictures: `--images auto|halfblock|sixel|kitty|none`.

The flag wins over the environment variable `TUI_TRAINER_IMAGES`; neither means `auto`.
`prepare` imports textual-image (it queries the terminal at import, so this happens before the
app starts and only when pictures are wanted) and turns `auto` into what the terminal supports:
Kitty graphics or Sixel where the terminal answers for them, half-blocks inside tmux, when
the output is no terminal, or when it supports neither.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from tui_trainer.errors import UserError

MODES = ("auto", "halfblock", "sixel", "kitty", "none")
"""The values of `--images` and `TUI_TRAINER_IMAGES`."""
ENV = "TUI_TRAINER_IMAGES"
"""The environment variable naming the image mode (the `--images` flag wins)."""
DRAWN = ("halfblock", "sixel", "kitty")
"""The modes that draw pictures (`none` shows their captions and names only)."""


def chosen(flag: str | None, environ: Mapping[str, str] | None = None) -> str:
    """The mode the user asked for: the flag, else the variable, else auto. A bad value is a
    UserError (one line, exit 2) naming where it came from."""
    env = os.environ if environ is None else environ
    where, value = ("--images", flag) if flag is not None else (ENV, env.get(ENV, "").strip())
    value = value or "auto"
    if value not in MODES:
        raise UserError(f"{where}: expected one of {', '.join(MODES)}, got {value!r}")
    return value


def prepare(mode: str, environ: Mapping[str, str] | None = None) -> str:
    """Import textual-image for `mode` (not for `none`) and return the concrete mode:
    halfblock, sixel, kitty or none. Call before the app starts (the import asks the terminal)."""
    if mode == "none":
        return "none"
    env = os.environ if environ is None else environ
    _ask_cell_size()
    try:
        import textual_image.widget  # noqa: F401  (asks the terminal for Sixel / Kitty, now)
    except Exception:  # a terminal that answers nonsense must not take the console down
        return "halfblock" if mode == "auto" else mode

    if mode != "auto":
        return mode
    if env.get("TMUX"):
        return "halfblock"  # tmux passes neither protocol through reliably
    from textual_image.renderable import Image, SixelImage, TGPImage

    if Image is SixelImage:
        return "sixel"
    if Image is TGPImage:
        return "kitty"
    return "halfblock"


def _ask_cell_size() -> None:
    """Fill textual-image's cached cell size (its widget module asks at import). A terminal
    that reports no size (a pty of 0x0 cells: ZeroDivisionError inside textual-image 0.12) or
    does not answer gets the VT340's 10x20 pixels instead of a crash."""
    from textual_image import _terminal

    try:
        _terminal.get_cell_size()
    except Exception:
        _terminal.get_cell_size._result = _terminal.CellSize(10, 20)  # type: ignore[attr-defined]  # its cache


def widget_class(mode: str) -> Any:
    """The textual-image widget class that draws `mode` (None for `none`). `prepare` imported
    the module before the app started."""
    if mode not in DRAWN:
        return None
    from textual_image import widget

    return {
        "halfblock": widget.HalfcellImage,
        "sixel": widget.SixelImage,
        "kitty": widget.TGPImage,
    }[mode]


def cell_aspect(mode: str) -> float:
    """A cell's height over its width in the picture's pixels: 2 for half-blocks (two pixels a
    cell), the terminal's own cell shape for Sixel and Kitty."""
    if mode not in ("sixel", "kitty"):
        return 2.0
    from textual_image._terminal import get_cell_size

    size = get_cell_size()
    return size.height / size.width if size.width else 2.0
