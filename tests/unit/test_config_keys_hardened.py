"""Config keys checked for every dataset, and cross-checks only where the key has an effect."""

from __future__ import annotations

import pytest
from support.cli import one_line_error, write_file

from tui_trainer.cli import main
from tui_trainer.config import load_config


@pytest.mark.parametrize("data", ["digits", "fake", "shapes", "imagefolder"])
def test_negative_num_workers_is_refused_for_every_dataset(data, tmp_path, capsys):
    args = ["check", "quickstart", f"data.name={data}", "data.num_workers=-1"]
    if data == "shapes":
        args += ["task=segmentation", "model.name=unet", "loss.name=dice_ce"]
    if data == "imagefolder":
        args.append(f"data.root={tmp_path}")
    assert main(args) == 2
    err = one_line_error(capsys)
    assert "data.num_workers:" in err and ">= 0" in err and "-1" in err


@pytest.mark.parametrize("workers", ["0", "3", "auto"])
def test_usable_num_workers_are_accepted(workers):
    config, _ = load_config("quickstart", [f"data.num_workers={workers}"])
    assert str(config.data.num_workers) == workers


def test_freeze_epochs_is_not_checked_against_epochs_while_freezing_is_off(tmp_path, capsys):
    preset = write_file(
        tmp_path / "p.yaml",
        "epochs: 2\nfreeze:\n  enabled: false\n  epochs: 5\n",
    )
    config, _ = load_config(preset)
    assert config.epochs == 2 and config.freeze.epochs == 5 and not config.freeze.enabled
    assert main(["check", preset]) == 0  # accepted (with a warning that the key is unused)
    assert "freeze.epochs ignored: freeze.enabled is false" in capsys.readouterr().out


def test_freeze_epochs_longer_than_the_run_is_refused_when_freezing(capsys):
    args = ["check", "quickstart", "epochs=2", "freeze.enabled=true", "freeze.epochs=5"]
    assert main(args) == 2
    err = one_line_error(capsys)
    assert "freeze.epochs" in err and "must not exceed epochs (2)" in err
