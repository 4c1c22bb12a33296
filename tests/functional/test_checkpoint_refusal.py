"""A crafted checkpoint is refused in one line that names what it asked for and never advises
`weights_only=False` (which would run the file's code)."""

from __future__ import annotations

import os
import sys
import types
from pathlib import Path

import pytest
import torch
from support.cli import one_line_error
from torch import nn

from tui_trainer.cli import main
from tui_trainer.engine.checkpoint import load_checkpoint
from tui_trainer.engine.load_refusal import load_failure
from tui_trainer.engine.model_parts import load_weights_file
from tui_trainer.errors import UserError

LONG_MODULE = "tt_crafted_checkpoint_module_with_a_rather_long_name_that_goes_on"
LONG_GLOBAL = f"{LONG_MODULE}.a_function_whose_name_is_long_enough_to_be_cut_off"


class _RunsShell:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):  # what a crafted checkpoint does: call os.system on load
        return (os.system, (f"touch {self.marker}",))


def _long_named_global(marker: Path):
    module = types.ModuleType(LONG_MODULE)

    def a_function_whose_name_is_long_enough_to_be_cut_off(path):  # pragma: no cover
        Path(path).touch()

    fn = a_function_whose_name_is_long_enough_to_be_cut_off
    fn.__module__, fn.__qualname__ = LONG_MODULE, fn.__name__
    module.a_function_whose_name_is_long_enough_to_be_cut_off = fn
    sys.modules[LONG_MODULE] = module

    class Calls:
        def __reduce__(self):
            return (fn, (str(marker),))

    return Calls()


@pytest.fixture
def crafted(tmp_path):
    """(checkpoint calling os.system, checkpoint calling a long-named global, marker file)."""
    marker = tmp_path / "code-ran"
    shell, long = tmp_path / "shell.pt", tmp_path / "long.pt"
    torch.save({"format": "tui-trainer-checkpoint", "model": _RunsShell(marker)}, shell)
    torch.save({"model": _long_named_global(marker)}, long)
    yield shell, long, marker
    sys.modules.pop(LONG_MODULE, None)


def _check_refusal(text: str, name: str) -> None:
    assert "weights_only" not in text and "add_safe_globals" not in text, text
    assert f"'{name}'" in text, text  # the offending global, in full
    assert "\n" not in text


def test_resume_from_a_crafted_checkpoint_is_one_safe_line(crafted, capsys):
    shell, _long, marker = crafted
    assert main(["run", "quickstart", "--resume", str(shell)]) == 2
    err = one_line_error(capsys)
    _check_refusal(err, "posix.system" if os.name == "posix" else "nt.system")
    assert "--resume" in err and str(shell) in err and "refused" in err
    assert not marker.exists()


def test_a_long_global_name_is_named_in_full(crafted):
    _shell, long, marker = crafted
    with pytest.raises(UserError) as info:
        load_checkpoint(long, key="--checkpoint")
    _check_refusal(str(info.value), LONG_GLOBAL)
    with pytest.raises(UserError) as info:
        load_weights_file(nn.Linear(2, 2), str(long), head="")
    _check_refusal(str(info.value), LONG_GLOBAL)
    assert info.value.key == "model.weights"
    assert not marker.exists()


def test_other_load_failures_stay_short_and_say_why(tmp_path):
    garbage = tmp_path / "g.pt"
    garbage.write_bytes(b"hello world")
    try:
        torch.load(garbage, weights_only=True)
    except Exception as exc:
        text = load_failure(exc)
    assert "not a torch.save file" in text and "\n" not in text
