"""Bad input: one clear line naming file, key and expectation; exit 2; nothing written."""

from __future__ import annotations

import pytest
import torch
from support.cli import one_line_error, write_file

from tui_trainer.cli import main

CASES = [
    # (name, args builder, fragments expected in the message)
    ("unknown key", lambda t: ["foo=1"], ["foo", "unknown key"]),
    ("typo'd key", lambda t: ["optim.lrr=0.1"], ["optim.lrr", "did you mean 'optim.lr'"]),
    ("wrong type", lambda t: ["optim.lr=fast"], ["optim.lr", "expected a number", "'fast'"]),
    ("negative epochs", lambda t: ["epochs=-3"], ["epochs", ">= 1", "-3"]),
    ("bad choice", lambda t: ["precision=fp8"], ["precision", "'fp16'", "'fp8'"]),
    ("bad override syntax", lambda t: ["optim.lr"], ["optim.lr", "key.path=value"]),
    (
        "freeze longer than run",
        lambda t: ["epochs=2", "freeze.enabled=true", "freeze.epochs=5"],
        ["freeze.epochs"],
    ),
    (
        "missing data root",
        lambda t: ["data.name=imagefolder", f"data.root={t}/nope"],
        ["data.root", "nope", "not found"],
    ),
    (
        "missing cifar10",
        lambda t: ["data.name=cifar10", f"data.root={t}/nope"],
        ["data.root", "cifar-10-batches-py"],
    ),
    ("missing weights file", lambda t: [f"model.weights={t}/w.pt"], ["model.weights", "w.pt"]),
    ("unknown model", lambda t: ["model.name=resnet181"], ["model.name", "resnet18"]),
    (
        "batch size 1 with BatchNorm",
        lambda t: ["model.name=resnet18", "model.kwargs={}", "data.batch_size=1"],
        ["data.batch_size", "BatchNorm"],
    ),
    ("batch larger than data", lambda t: ["data.batch_size=100000"], ["data.batch_size"]),
    (
        "freeze pattern matches nothing",
        lambda t: ["freeze.enabled=true", "freeze.patterns=[zz*]"],
        ["freeze.patterns"],
    ),
    (
        "onecycle with warmup",
        lambda t: ["scheduler.name=onecycle", "scheduler.warmup_epochs=1"],
        ["scheduler.warmup_epochs"],
    ),
]


@pytest.mark.parametrize(("name", "args", "fragments"), CASES, ids=[c[0] for c in CASES])
def test_bad_override_exits_2_with_one_line(tmp_path, capsys, name, args, fragments):
    out = tmp_path / "runs"
    rc = main(["run", "quickstart", *args(tmp_path), "--out", str(out)])
    err = one_line_error(capsys)
    assert rc == 2
    for fragment in fragments:
        assert fragment in err
    assert not out.exists(), "nothing may be written for bad input"


def test_cuda_requested_without_cuda(tmp_path, capsys):
    if torch.cuda.is_available():
        pytest.skip("CUDA exists here")
    rc = main(["run", "quickstart", "device=cuda", "--out", str(tmp_path / "r")])
    assert rc == 2
    assert "device" in capsys.readouterr().err


def test_corrupt_yaml_names_file_and_line(tmp_path, capsys):
    preset = write_file(tmp_path / "p.yaml", "epochs: 3\ndata:\n  batch_size: [1, 2\n")
    assert main(["check", preset]) == 2
    err = capsys.readouterr().err
    assert f"{preset}:" in err and "invalid YAML" in err


def test_typo_in_yaml_names_line_and_suggestion(tmp_path, capsys):
    preset = write_file(tmp_path / "p.yaml", "epochs: 3\noptim:\n  name: sgd\n  momentun: 0.9\n")
    assert main(["check", preset]) == 2
    err = capsys.readouterr().err.strip()
    assert err == (
        f"tui-trainer: error: {preset}:4: optim.momentun: unknown key "
        "(did you mean 'optim.momentum'?)"
    )


def test_wrong_type_in_yaml(tmp_path, capsys):
    preset = write_file(tmp_path / "p.yaml", "epochs: ten\n")
    assert main(["check", preset]) == 2
    assert f"{preset}:1: epochs: expected an integer, got 'ten'" in capsys.readouterr().err


def test_yaml_that_is_not_a_mapping(tmp_path, capsys):
    preset = write_file(tmp_path / "p.yaml", "- a\n- b\n")
    assert main(["check", preset]) == 2
    assert "expected a mapping" in capsys.readouterr().err


def test_unknown_preset_suggests_nearest(capsys):
    assert main(["check", "quikstart"]) == 2
    assert "did you mean 'quickstart'" in capsys.readouterr().err


def test_missing_preset_file(tmp_path, capsys):
    assert main(["run", str(tmp_path / "x.yaml")]) == 2
    assert "preset file not found" in capsys.readouterr().err


def test_resume_from_garbage_checkpoint(tmp_path, capsys):
    bad = tmp_path / "last.pt"
    bad.write_bytes(b"not a checkpoint")
    out = tmp_path / "runs"
    assert main(["run", "quickstart", "--resume", str(bad), "--out", str(out)]) == 2
    assert "not a readable checkpoint" in capsys.readouterr().err
    assert not out.exists()


def test_replay_of_a_folder_without_config(tmp_path, capsys):
    assert main(["replay", str(tmp_path)]) == 2
    assert "config.yaml" in capsys.readouterr().err


def test_check_prints_resolved_config(capsys):
    assert main(["check", "presets/cifar10-resnet18.yaml", "freeze.enabled=true"]) == 0
    out = capsys.readouterr().out
    assert "# preset: cifar10-resnet18 (valid)" in out
    assert "name: resnet18" in out
    assert "backbone frozen for 3 epoch(s) at batch size 256" in out


def test_presets_lists_bundled(capsys):
    assert main(["presets"]) == 0
    out = capsys.readouterr().out
    for name in [
        "quickstart",
        "cifar10-small-cnn",
        "cifar10-resnet18",
        "imagefolder-densenet121",
        "fake-benchmark",
    ]:
        assert name in out


def test_console_resume_of_a_missing_run_fails_before_the_screen_opens(tmp_path, capsys):
    assert main(["--resume", str(tmp_path / "nope")]) == 2
    assert "--resume" in capsys.readouterr().err
