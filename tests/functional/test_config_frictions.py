"""Config frictions a new user met: a section's key typed at the top level, a broken local preset
listed as fine, a randomly initialised backbone frozen without a word."""

from __future__ import annotations

from pathlib import Path

import pytest
from support.cli import one_line_error

from tui_trainer.cli import main
from tui_trainer.config import load_config
from tui_trainer.config.preset_list import list_presets
from tui_trainer.config.rules import config_warnings


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.mark.parametrize(
    ("override", "suggested"),
    [
        ("lr=0.1", "'optim.lr'"),
        ("momentum=0.9", "'optim.momentum'"),
        ("hflip=true", "'data.augment.hflip'"),
        ("data.lr=0.1", "'optim.lr'"),
        ("batch_size=8", "'data.batch_size' or 'freeze.batch_size'"),
    ],
)
def test_a_sections_key_at_the_wrong_level_suggests_its_full_key(
    workdir, capsys, override, suggested
):
    assert main(["check", "quickstart", override]) == 2
    err = one_line_error(capsys)
    assert f"did you mean {suggested}?" in err, err


def test_a_plain_typo_still_gets_the_near_key(workdir, capsys):
    assert main(["check", "quickstart", "epochz=3"]) == 2
    assert "did you mean 'epochs'?" in one_line_error(capsys)


def test_presets_marks_a_local_preset_with_an_unknown_key_broken(workdir, capsys):
    (workdir / "presets").mkdir()
    (workdir / "presets" / "mine.yaml").write_text("description: mine\noptim:\n  lrr: 0.1\n")
    (workdir / "presets" / "good.yaml").write_text("description: good\nepochs: 2\n")
    (workdir / "presets" / "bad-value.yaml").write_text("description: x\nepochs: two\n")
    found = {p.name: p for p in list_presets()}
    assert found["mine"].problem == "line 3: optim.lrr: unknown key (did you mean 'optim.lr'?)"
    assert "epochs" in (found["bad-value"].problem or "")
    assert found["good"].problem is None and found["quickstart"].problem is None
    assert main(["presets"]) == 0
    lines = {line.split()[0]: line for line in capsys.readouterr().out.splitlines()}
    assert "BROKEN: line 3: optim.lrr: unknown key" in lines["mine"]
    assert "BROKEN" not in lines["good"] and "BROKEN" not in lines["quickstart"]


def test_every_bundled_preset_loads():
    assert [p.name for p in list_presets() if p.problem] == []


def test_freezing_a_randomly_initialised_backbone_warns(workdir, capsys):
    config, _ = load_config("imagefolder-densenet121", [])
    (warning,) = [w for w in config_warnings(config) if "randomly initialised" in w]
    assert "freeze.enabled" in warning and "model.weights" in warning
    assert main(["check", "imagefolder-densenet121"]) == 0
    assert "randomly initialised" in capsys.readouterr().out


@pytest.mark.parametrize(
    "overrides",
    [
        ["model.weights=DEFAULT"],
        ["freeze.enabled=false"],
        ["model.name=support.tinymodels:TinyBN", "model.weights=null"],
    ],
)
def test_no_random_backbone_warning_when_weights_or_no_freeze(overrides):
    config, _ = load_config("imagefolder-densenet121", overrides)
    assert not [w for w in config_warnings(config) if "randomly initialised" in w]


def test_a_detectors_backbone_weights_count_as_its_frozen_weights():
    config, _ = load_config("voc-detect", [])  # freeze.enabled with model.backbone_weights
    assert not [w for w in config_warnings(config) if "randomly initialised" in w]
    config, _ = load_config("voc-detect", ["model.backbone_weights=null"])
    assert [w for w in config_warnings(config) if "randomly initialised" in w]
