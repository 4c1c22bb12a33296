"""What a user comparing with torchvision's classification reference needs to see and set:
the finetune transform described as it is, the validation resize as a key (shared with
predict/export), which split made train/val and how many, and what the per-epoch `lr` is."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from PIL import Image
from support.cli import one_line_error
from support.runs import TINY, epoch_lines, only_run_dir

from tui_trainer.cli import main
from tui_trainer.config import load_config
from tui_trainer.config.data_schema import DataConfig
from tui_trainer.engine.data import build_data
from tui_trainer.engine.data.decode import Geometry
from tui_trainer.engine.data.split_plan import DIGITS_SAMPLES, plan_split
from tui_trainer.runlog.events import EpochEnd

CPU = torch.device("cpu")
QUICK = ["epochs=1", "device=cpu", "data.batch_size=256", "progress.interval=0.01"]
DIGITS_LINE = "split: 1,437 train / 360 val digits, by data.val_split 0.2 of 1,797"


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


def make_pngs(root: Path, per_class: int = 6, size: tuple[int, int] = (60, 45)) -> Path:
    rng = np.random.default_rng(0)
    for k, cls in enumerate(("cat", "dog")):
        (root / cls).mkdir(parents=True)
        for i in range(per_class):
            pixels = rng.integers(0, 255, (size[1], size[0], 3)).astype(np.uint8)
            pixels[..., k] = 250
            Image.fromarray(pixels).save(root / cls / f"{i:02d}.png")
    return root


def folder_config(root: Path, tmp_path: Path, *extra: str):
    overrides = [
        *TINY,
        "data.name=imagefolder",
        f"data.root={root}",
        "data.image_size=16",
        "data.batch_size=4",
        "data.val_split=0.25",
        "data.num_workers=0",
        "data.cache=none",
        f"out={tmp_path / 'runs'}",
        *extra,
    ]
    return load_config("quickstart", overrides)[0]


# -- 5: the finetune transform as it is ------------------------------------------------------------
def test_finetune_description_says_the_flip_needs_hflip():
    text = DataConfig.model_fields["transform"].description or ""
    assert "RandomResizedCrop + flip" not in text
    assert "data.augment.hflip" in text and "data.val_resize" in text


# -- 6: the validation resize is a key; predict/export use it ----------------------------------
def test_val_resize_sets_the_validation_and_predict_geometry(tmp_path):
    root = make_pngs(tmp_path / "imgs")
    default = build_data(folder_config(root, tmp_path, "data.transform=finetune"), CPU)
    assert default.val.source.geometry == Geometry(16, "center", 18)  # 16 / 0.875, as before
    config = folder_config(root, tmp_path, "data.transform=finetune", "data.val_resize=32")
    data = build_data(config, CPU)
    assert data.val.source.geometry == Geometry(16, "center", 32)
    assert data.make_train(4).source.geometry == Geometry(18)  # training is not changed by it
    assert "shorter side to 32" in data.input_spec.resize
    x, _ = next(iter(data.val))
    with Image.open(data.val.source.images[0]) as img:
        one = data.input_spec(img)
    assert torch.allclose(x[0], one, atol=1e-5)  # predict/export prepare files as validation
    x_default, _ = next(iter(default.val))
    assert not torch.allclose(x_default[0], x[0])


def test_val_resize_below_the_crop_is_refused(workdir, capsys):
    argv = ["check", "quickstart", "data.image_size=32", "data.val_resize=20"]
    assert main(argv) == 2
    assert "data.val_resize: must be >= data.image_size (32)" in one_line_error(capsys)


def test_val_resize_where_unused_warns(workdir, capsys):
    assert main(["check", "quickstart", "data.val_resize=40"]) == 0
    assert "data.val_resize ignored" in capsys.readouterr().out


# -- 7: which split, how many ----------------------------------------------------------------------
def test_run_says_the_split_first_and_config_yaml_keeps_it(workdir, capsys):
    out = workdir / "runs"
    assert main(["run", "quickstart", *QUICK, "--out", str(out)]) == 0
    lines = capsys.readouterr().out.splitlines()
    first = next(i for i, line in enumerate(lines) if line.startswith("split: "))
    assert first < next(i for i, line in enumerate(lines) if line.startswith("epoch 1/1"))
    assert lines[first].startswith(DIGITS_LINE), lines[first]
    run_dir = only_run_dir(out)
    notes = yaml.safe_load((run_dir / "config.yaml").read_text())["notes"]
    assert [n for n in notes if n.startswith("split: ")] == [lines[first]]
    again = workdir / "again"
    assert main(["replay", str(run_dir), "--out", str(again)]) == 0
    notes = yaml.safe_load((only_run_dir(again) / "config.yaml").read_text())["notes"]
    assert [n for n in notes if n.startswith("split: ")] == [lines[first]]  # not doubled


def test_check_says_the_split_the_run_uses(workdir, capsys):
    assert main(["check", "quickstart"]) == 0
    assert f"# note: {DIGITS_LINE}" in capsys.readouterr().out
    config, _ = load_config("quickstart", ["device=cpu"])
    assert build_data(config, CPU).split == plan_split(config)
    assert build_data(config, CPU).train_samples + 360 == DIGITS_SAMPLES


def test_train_and_val_folders_are_named_and_val_split_said_unused(workdir, capsys):
    root = workdir / "folders"
    make_pngs(root / "train", per_class=5)
    make_pngs(root / "val", per_class=2)
    config = folder_config(root, workdir)
    line = build_data(config, CPU).split
    assert line == plan_split(config)
    assert line == (
        f"split: 10 train / 4 val images, by the train/ and val/ folders under '{root}' "
        "(data.val_split not used)"
    )
    assert main(["check", "imagefolder-densenet121", f"data.root={root}"]) == 0
    assert "data.val_split not used" in capsys.readouterr().out


@pytest.mark.parametrize("name", ["imagefolder", "fake"])
def test_check_and_run_agree_on_a_val_split(workdir, name):
    if name == "imagefolder":
        config = folder_config(make_pngs(workdir / "imgs"), workdir)
        expected = "split: 9 train / 3 val images, by data.val_split 0.25 of 12 (seeded"
    else:
        config, _ = load_config("fake-benchmark", [*TINY, "data.num_samples=50"])
        expected = "split: 40 train / 10 val images, by data.val_split 0.2 of 50 (the first"
    line = build_data(config, CPU).split
    assert line == plan_split(config) and line.startswith(expected), line


def test_check_warns_about_a_split_the_run_would_refuse(workdir, capsys):
    root = make_pngs(workdir / "imgs", per_class=3)
    assert (
        main(["check", "imagefolder-densenet121", f"data.root={root}", "data.val_split=0.1"]) == 0
    )
    assert "# warning: data.val_split: 0.1 of 6 images leaves 1" in capsys.readouterr().out


# -- 8: what the per-epoch lr is -------------------------------------------------------------------
def test_the_epoch_lr_is_the_last_optimizer_steps_and_documented(workdir):
    out = workdir / "runs"
    argv = [
        "run",
        "quickstart",
        *QUICK,
        "epochs=2",
        "scheduler.name=cosine",
        "scheduler.warmup_epochs=0",
        "--out",
        str(out),
    ]
    assert main(argv) == 0
    run_dir = only_run_dir(out)
    (plan,) = [
        r
        for r in map(yaml.safe_load, (run_dir / "metrics.jsonl").read_text().splitlines())
        if r["event"] == "lr_plan"
    ][:1]
    first = epoch_lines(run_dir)[0]
    starts = [lr for x, lr in plan["points"] if x <= 1.0]
    assert first["lr"] < starts[0]  # cosine falls: the epoch's end, not its start
    doc = EpochEnd.__doc__ or ""
    assert "last optimizer step" in doc and "not the one the epoch started with" in doc
