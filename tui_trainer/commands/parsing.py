"""What every command's parser shares: one-line argparse errors, argument types, help texts."""

from __future__ import annotations

import argparse
import math
from typing import NoReturn

from tui_trainer.errors import UserError

OVERRIDES_HELP = "dotted overrides such as optim.lr=0.01 epochs=3 precision=bf16"


class CliParser(argparse.ArgumentParser):
    """argparse, but bad arguments are a one-line UserError (exit 2) like all other bad input."""

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
