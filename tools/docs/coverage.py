"""What the documentation must mention: every command, sub-command and option of the CLI
(`tui_trainer.commands.table`), and every key binding with its description of every screen, app
and widget under `tui_trainer/tui`. `missing(text)` lists what a documentation text lacks."""

from __future__ import annotations

import argparse
import importlib
import inspect
import pkgutil
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from textual.binding import Binding
from textual.dom import DOMNode

from tui_trainer.commands.queue import ACTIONS
from tui_trainer.commands.sweep import SUBCOMMANDS
from tui_trainer.commands.table import arguments, parsers
from tui_trainer.remote.commands import CTL_COMMANDS

DOCS = Path("docs")

KEY_NAMES = {"question_mark": "?", "slash": "/", "left_square_bracket": "[",
             "right_square_bracket": "]"}  # fmt: skip
"""Textual key names that the docs write as the character."""


@dataclass(frozen=True)
class KeyBinding:
    """One binding: where it is defined, its keys (`p`, or `n,escape`) and its description."""

    owner: str
    keys: str
    description: str


def docs_text(root: Path) -> str:
    """All of docs/**/*.md under `root`, joined."""
    return "\n".join(p.read_text(encoding="utf-8") for p in sorted((root / DOCS).rglob("*.md")))


def cli_items() -> Iterator[tuple[str, list[str]]]:
    """(what, regexes) for each command, its sub-commands and its options (`--help` aside):
    the item is documented when one paragraph matches every regex (an option is looked for
    beside its command's name, so `--json` of `runs` is not satisfied by `queue ls --json`)."""
    for command, parser in parsers():
        name = command.name
        if name:
            yield f"command `{name}`", [rf"tui-trainer {re.escape(name)}\b"]
        for action in arguments(parser):
            if isinstance(action, argparse._HelpAction):
                continue
            for option in action.option_strings:
                if option.startswith("--"):
                    where = f"tui-trainer {name}".strip()
                    yield (
                        f"{where}: option `{option}`",
                        [
                            rf"(?<![\w-]){re.escape(option)}\b",
                            rf"\b{re.escape(name or 'tui-trainer')}\b",
                        ],
                    )
    subs = {"queue": ACTIONS, "sweep": SUBCOMMANDS, "ctl": CTL_COMMANDS}
    for command_name, words in subs.items():
        for word in words:
            # `queue hold`, or one of a `|` list on a line naming the command: `queue hold|rm`
            pattern = rf"{command_name}\b[^\n]*?[\s|`]{re.escape(word)}\b"
            yield f"sub-command `{command_name} {word}`", [pattern]


def bindings() -> Iterator[KeyBinding]:
    """Every binding declared by a class under tui_trainer.tui (each class's own BINDINGS)."""
    import tui_trainer.tui as tui

    for info in pkgutil.walk_packages(tui.__path__, "tui_trainer.tui."):
        module = importlib.import_module(info.name)
        for name, cls in vars(module).items():
            if not (inspect.isclass(cls) and issubclass(cls, DOMNode)):
                continue
            if cls.__module__ != module.__name__ or "BINDINGS" not in vars(cls):
                continue
            for item in vars(cls)["BINDINGS"]:
                binding = item if isinstance(item, Binding) else Binding(*item)
                yield KeyBinding(f"{name}", binding.key, binding.description)


def key_forms(key: str) -> list[str]:
    """How the docs may write one key: `?` or `question_mark`, `ctrl+r`."""
    return [key, KEY_NAMES[key]] if key in KEY_NAMES else [key]


def binding_documented(binding: KeyBinding, lines: list[str]) -> bool:
    """Some docs line names one of the binding's keys in backticks and its description."""
    keys = [form for key in binding.keys.split(",") for form in key_forms(key.strip())]
    description = binding.description.lower()
    for line in lines:
        low = line.lower()
        if description and description not in low:
            continue
        if any(f"`{k}`" in line or f"`{k} " in line or f" {k}`" in line for k in keys):
            return True
    return False


def missing(text: str) -> list[str]:
    """What `text` does not mention: commands, options, sub-commands, key bindings."""
    paragraphs = re.split(r"\n\s*\n", text)
    gaps = [
        what
        for what, patterns in cli_items()
        if not any(all(re.search(p, para) for p in patterns) for para in paragraphs)
    ]
    lines = text.splitlines()
    seen: set[KeyBinding] = set()
    for binding in bindings():
        if binding in seen:
            continue
        seen.add(binding)
        if not binding_documented(binding, lines):
            gaps.append(f"{binding.owner}: key `{binding.keys}` ({binding.description or '-'})")
    return gaps


def _main() -> None:
    root = Path(__file__).resolve().parents[2]
    for gap in missing(docs_text(root)):
        print(gap)


if __name__ == "__main__":
    _main()
