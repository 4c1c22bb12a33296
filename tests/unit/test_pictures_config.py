"""The `pictures:` config section: defaults, overrides, bad values."""

from __future__ import annotations

import pytest
from support.cli import one_line_error

from tui_trainer.cli import main
from tui_trainer.config import load_config


def test_defaults_and_overrides():
    config, _ = load_config("quickstart", [])
    assert (config.pictures.samples, config.pictures.mistakes, config.pictures.size) == (8, 16, 128)
    config, _ = load_config("quickstart", ["pictures.samples=0", "pictures.mistakes=256",
                                           "pictures.size=32"])  # fmt: skip
    assert (config.pictures.samples, config.pictures.mistakes, config.pictures.size) == (0, 256, 32)


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        ("pictures.samples=65", "pictures.samples: expected a value <= 64, got 65"),
        ("pictures.mistakes=-1", "pictures.mistakes: expected a value >= 0"),
        ("pictures.size=16", "pictures.size: expected a value >= 32"),
        ("pictures.size=1024", "pictures.size: expected a value <= 512"),
        ("pictures.sample=3", "pictures.sample"),
    ],
)
def test_bad_values_are_one_line_and_exit_2(override, expected, capsys):
    assert main(["check", "quickstart", override]) == 2
    assert expected in one_line_error(capsys)
