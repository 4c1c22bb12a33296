"""The command table: every command is one row (its parser and its handler), dispatch goes
through the table only, every command and argument has help text, and `compare`'s rows know
nothing of the command or the UI that shows them."""

from __future__ import annotations

import argparse
import ast
import dataclasses
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from support.cli import one_line_error

from tui_trainer.cli import main
from tui_trainer.commands import table

ROOT = Path(__file__).resolve().parents[2]
# the fewest arguments each command's parser accepts
MINIMAL_ARGS = {
    "run": [],
    "watch": [],
    "runs": [],
    "ctl": ["RUN", "pause"],
    "queue": ["ls"],
    "sweep": ["status"],
    "replay": ["RUN"],
    "compare": [],
    "presets": [],
    "check": ["quickstart"],
    "gpus": [],
    "eval": ["RUN"],
    "predict": ["RUN", "a.png"],
    "export": ["RUN", "--format", "onnx"],
    "exec": ["--", "python", "train.py", "--lr", "0.1"],
    "find-lr": ["quickstart"],
    "find-batch": ["quickstart"],
}


def test_every_command_and_argument_has_help_text():
    assert table.undocumented() == []


def test_the_help_walk_covers_every_command_and_finds_what_lacks_help():
    walked = {command.name for command, _ in table.parsers()}
    assert walked == {"", *MINIMAL_ARGS}
    bare = argparse.ArgumentParser(prog="bare")
    bare.add_argument("thing")
    bare.add_argument("--flag", help="documented")
    bare.add_argument("--quiet", action="store_true")
    assert table.undocumented([bare]) == ["bare: description", "bare: thing", "bare: --quiet"]


def test_the_top_level_help_lists_every_command(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    out = " ".join(capsys.readouterr().out.split())
    for command in table.COMMANDS:
        assert f"{command.usage} |" in out or f"{command.usage}." in out


@pytest.mark.parametrize("name", list(MINIMAL_ARGS))
def test_each_command_runs_its_own_handler(monkeypatch, name):
    """`gpus` included: it is a row like the others, not what is left over."""
    called: list[tuple[str, argparse.Namespace]] = []

    def recorder(row: str):
        return lambda args: called.append((row, args)) or 7

    rows = {n: dataclasses.replace(c, handler=recorder(n)) for n, c in table.BY_NAME.items()}
    monkeypatch.setattr(table, "BY_NAME", rows)
    argv = [name, *MINIMAL_ARGS[name]]
    assert main(argv) == 7
    assert [row for row, _ in called] == [name]
    assert called[0][1].argv == argv  # the whole command line reaches the handler


def test_gpus_options_reach_its_handler(monkeypatch):
    seen: list[argparse.Namespace] = []
    row = dataclasses.replace(table.BY_NAME["gpus"], handler=lambda a: seen.append(a) or 0)
    monkeypatch.setitem(table.BY_NAME, "gpus", row)
    assert main(["gpus", "--watch", "--interval", "0.5"]) == 0
    assert (seen[0].watch, seen[0].interval) == (True, 0.5)


def test_a_first_word_that_names_no_command_is_a_preset_refused_in_one_line(capsys):
    assert main(["no-such-command"]) == 2
    assert "no-such-command: no such preset" in one_line_error(capsys)


def test_the_compare_rows_import_neither_the_command_nor_the_ui():
    """(the rows were once the command too, and imported the screen that imports them)"""
    tree = ast.parse((ROOT / "tui_trainer" / "compare.py").read_text())
    imported = [
        node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)
    ] + [
        alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for alias in node.names
    ]
    assert not [m for m in imported if m.startswith(("tui_trainer.tui", "tui_trainer.commands"))]


@pytest.mark.skipif(shutil.which("tui-trainer") is None, reason="console script not installed")
def test_python_dash_m_is_the_console_script():
    def help_of(cmd: list[str]) -> str:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=True).stdout

    assert help_of([sys.executable, "-m", "tui_trainer", "gpus", "--help"]) == help_of(
        [shutil.which("tui-trainer") or "", "gpus", "--help"]
    )
