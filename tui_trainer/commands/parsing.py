"""What every command's parser shares: one-line argparse errors, argument types, help texts."""

from __future__ import annotations

import argparse
import math
from typing import NoReturn

from tui_trainer.errors import UserError

OVERRIDES_HELP = "dotted overrides such as optim.lr=0.01 epochs=3 precision=bf16"


def add_images_option(p: argparse.ArgumentParser) -> None:
    """`--images auto|halfblock|sixel|kitty|none` on a command that opens the console."""
    p.add_argument(
        "--images",
        metavar="MODE",
        help="how pictures are drawn: auto (the terminal's Kitty graphics or Sixel, else "
        "half-blocks; half-blocks in tmux), halfblock, sixel, kitty, or none (captions only); "
        "default: $TUI_TRAINER_IMAGES, else auto",
    )


class CliParser(argparse.ArgumentParser):
    """argparse, but bad arguments are a one-line UserError (exit 2) like all other bad input."""

    command_tail: str | None = None
    """The destination of everything after a first `--`, taken verbatim (`exec -- CMD ...`);
    None: `--` means what argparse makes of it."""

    # typeshed overloads this method; one signature covers the calls we make
    def parse_intermixed_args(  # type: ignore[override]
        self, args: list[str] | None = None, namespace: argparse.Namespace | None = None
    ) -> argparse.Namespace:
        """As argparse's, but with `command_tail` set the words after `--` are not parsed."""
        words = list(args or [])
        if self.command_tail is None or "--" not in words:
            return super().parse_intermixed_args(words, namespace)
        cut = words.index("--")
        parsed = super().parse_intermixed_args(words[:cut], namespace)
        setattr(parsed, self.command_tail, words[cut + 1 :])
        return parsed

    def error(self, message: str) -> NoReturn:
        """Raise instead of printing the usage block and exiting."""
        raise UserError(f"{self.prog}: {message} (see '{self.prog} --help')")


def positive_seconds(text: str) -> float:
    """An argparse type: a finite number of seconds > 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got '{text}'") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"expected a number of seconds > 0, got '{text}'")
    return value


def split_overrides(preset: str | None, overrides: list[str]) -> tuple[str | None, list[str]]:
    """`run epochs=3 --resume X`: a first positional with '=' is an override, not a preset."""
    if preset is not None and "=" in preset:
        return None, [preset, *overrides]
    return preset, overrides
