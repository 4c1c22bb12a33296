"""Your own Dataset as `data.name: module:Class`: training, refusals, exact resume, workers,
predict (issue 25, the data part)."""

from __future__ import annotations

import csv
import json
import re
import textwrap

import numpy as np
import pytest
import torch
from PIL import Image
from support.runs import TINY, StepLosses, epoch_lines, only_run_dir, run_preset

from tui_trainer.cli import main
from tui_trainer.config import load_config
from tui_trainer.runlog.control import Control
from tui_trainer.session import execute

DIGITS = "support.userdata:DigitsArrays"
NORMALIZE = "data.normalize={mean: [0.3], std: [0.4]}"

CSV_MODULE = '''
"""A practitioner's dataset: PNG files listed with their label in a CSV file."""
import csv
from pathlib import Path

from PIL import Image
from torch.utils.data import Dataset


class CsvImages(Dataset):
    classes = ["red", "green", "blue"]

    def __init__(self, csv_file, root):
        with open(csv_file) as fh:
            self.rows = [(Path(root) / name, int(label)) for name, label in csv.reader(fh)]

    def __len__(self):
        return len(self.rows)

    def __getitem__(self, index):
        path, label = self.rows[index]
        return Image.open(path).convert("RGB"), label
'''


def _colour_images(folder, csv_path, n: int, seed: int) -> None:
    """`n` 10x10 PNGs, each mostly one colour (its label) under noise, listed in `csv_path`."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    with open(csv_path, "w", newline="") as fh:
        writer = csv.writer(fh)
        for i in range(n):
            label = i % 3
            pixels = rng.integers(0, 120, (10, 10, 3), dtype=np.uint8)
            pixels[:, :, label] += 120
            name = f"{csv_path.stem}_{i:03d}.png"
            Image.fromarray(pixels).save(folder / name)
            writer.writerow([name, label])


def test_a_csv_labelled_image_dataset_with_its_own_val_set_trains(tmp_path, monkeypatch):
    code = tmp_path / "code"
    (code / "csvlab").mkdir(parents=True)
    (code / "csvlab" / "__init__.py").write_text("")
    (code / "csvlab" / "csvdata.py").write_text(textwrap.dedent(CSV_MODULE))
    monkeypatch.syspath_prepend(str(code))
    data = tmp_path / "data"
    _colour_images(data / "images", data / "train.csv", 90, seed=1)
    _colour_images(data / "images", data / "val.csv", 30, seed=2)
    finished, run_dir = run_preset(
        tmp_path / "runs",
        [
            "data.name=csvlab.csvdata:CsvImages",
            f"data.kwargs={{csv_file: '{data / 'train.csv'}', root: '{data / 'images'}'}}",
            f"data.val_kwargs={{csv_file: '{data / 'val.csv'}', root: '{data / 'images'}'}}",
            "data.image_size=8",
            "data.batch_size=16",
            "data.num_workers=0",
            "epochs=6",
        ],
    )
    assert finished.status == "completed", finished.error
    lines = epoch_lines(run_dir)
    assert lines[-1]["val_accuracy"] >= 0.95  # the colour is the class: easy, once it learns
    config = (run_dir / "config.yaml").read_text()
    assert (
        "split: 90 train / 30 val samples, by csvlab.csvdata:CsvImages with data.kwargs " in config
    )
    state = torch.load(run_dir / "checkpoints" / "last.pt", weights_only=True)
    assert state["class_names"] == ["red", "green", "blue"]


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("FlatImages", r"support\.userdata:FlatImages item \d+: expected an image as a \(C,H,W\)"),
        ("TextLabels", r"support\.userdata:TextLabels item \d+: expected an integer class label"),
        ("Unnumbered", r"neither a `classes` list nor a `num_classes`; set data\.num_classes"),
    ],
)
def test_a_dataset_breaking_the_item_contract_is_refused_with_nothing_written(
    tmp_path, capsys, name, expected
):
    out = tmp_path / "runs"
    code = main(["run", "quickstart", *TINY, f"data.name=support.userdata:{name}", f"--out={out}"])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert re.search(expected, err) and "data.name" in err
    assert len(err.splitlines()) == 1, err
    assert not out.exists()


def test_data_num_classes_must_agree_with_the_datasets_classes(tmp_path, capsys):
    out = tmp_path / "runs"
    args = [f"data.name={DIGITS}", "data.num_classes=7", f"--out={out}"]
    assert main(["run", "quickstart", *TINY, *args]) == 2
    err = capsys.readouterr().err
    assert "data.num_classes" in err and "7, but support.userdata:DigitsArrays has 10" in err
    assert not out.exists()


def test_a_separate_validation_set_is_checked_too(tmp_path, capsys):
    out = tmp_path / "runs"
    args = [f"data.name={DIGITS}", "data.val_kwargs={part: val, limit: 0}", f"--out={out}"]
    assert main(["run", "quickstart", *TINY, *args]) == 2
    err = capsys.readouterr().err
    assert "data.val_kwargs" in err and "has no items" in err
    assert not out.exists()


# A dataset whose __getitem__ draws random numbers: each item's draws are seeded by its slot.
RESUME = [
    *TINY,
    "epochs=2",
    "data.name=support.userdata:DigitsJitter",
    "data.kwargs={limit: 200}",
    "data.num_workers=0",
    NORMALIZE,
    "progress.interval=1e-9",
    "accumulate=2",
    "data.batch_size=16",
    "data.augment.hflip=true",
    "data.augment.crop_padding=1",
    "optim.weight_decay=0.001",
]


def test_mid_epoch_resume_with_a_user_dataset_is_exact(tmp_path):
    config, name = load_config("quickstart", [*RESUME, f"out={tmp_path / 'a'}"])
    whole = StepLosses()
    execute(config, name, sinks=[whole], control=Control())

    config, name = load_config("quickstart", [*RESUME, f"out={tmp_path / 'b'}"])
    control = Control()
    first = StepLosses(control, stop_at=7)  # mid-epoch 2 (5 optimizer steps an epoch)
    assert execute(config, name, sinks=[first], control=control).status == "interrupted"
    run_dir = only_run_dir(tmp_path / "b")
    second = StepLosses()
    resumed = execute(config, name, sinks=[second], control=Control(), resume=run_dir)
    assert resumed.status == "completed"
    assert max(first.losses) == 7 and min(second.losses) == 8
    assert {**first.losses, **second.losses} == whole.losses


def _epoch_batches(tmp_path, workers: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    from tui_trainer.engine.data import build_data

    config, _ = load_config(
        "quickstart",
        [*RESUME, f"data.num_workers={workers}", f"out={tmp_path}"],
    )
    bundle = build_data(config, torch.device("cpu"))
    try:
        loader = bundle.make_train(16)
        loader.set_epoch(1)
        return [(x.clone(), y.clone()) for x, y in loader.iterate(3)]
    finally:
        bundle.close()


def test_batches_do_not_depend_on_the_worker_count(tmp_path):
    none = _epoch_batches(tmp_path, 0)
    two = _epoch_batches(tmp_path, 2)
    assert len(none) == len(two) == 160 // 16 - 3
    for (xa, ya), (xb, yb) in zip(none, two, strict=True):
        assert torch.equal(xa, xb) and torch.equal(ya, yb)


def test_predict_and_export_prepare_files_as_validation_prepares_items(tmp_path, capsys):
    from support.userdata import DigitsArrays

    from tui_trainer.after.loading import open_run

    finished, run_dir = run_preset(
        tmp_path / "runs",
        [
            f"data.name={DIGITS}",
            "data.kwargs={part: train}",
            "data.val_kwargs={part: val}",
            "data.num_workers=0",
            NORMALIZE,
            "epochs=1",
        ],
    )
    assert finished.status == "completed", finished.error
    folder = tmp_path / "imgs"
    folder.mkdir()
    val = DigitsArrays("val")
    for i in range(6):
        Image.fromarray(val[i][0]).save(folder / f"{i:02d}.png")
    run = open_run(run_dir)
    x, _ = next(iter(run.data.val.iterate(0)))
    with torch.inference_mode():
        probs = run.model(x[:6]).softmax(1)
    out = tmp_path / "pred"
    assert main(["predict", str(run_dir), str(folder), "--out", str(out)]) == 0
    capsys.readouterr()
    with open(out / "predictions.csv") as fh:
        top = {r["file"].split("/")[-1]: r for r in csv.DictReader(fh) if r["rank"] == "1"}
    values, indices = probs.max(1)
    for i in range(6):
        row = top[f"{i:02d}.png"]
        assert row["class"] == str(int(indices[i]))
        assert float(row["probability"]) == pytest.approx(float(values[i]), abs=1e-5)
    assert main(["export", str(run_dir), "--format", "torchscript"]) == 0
    assert "max |diff|" in capsys.readouterr().out
    meta = json.loads((run_dir / "export" / "best.torchscript.pt.json").read_text())
    assert meta["input_shape"] == ["N", 1, 8, 8] and meta["mean"] == [0.3]
    assert meta["std"] == [0.4] and meta["class_names"] == DigitsArrays.classes


def test_a_segmentation_dataset_of_image_and_mask_pairs_trains(tmp_path):
    finished, run_dir = run_preset(
        tmp_path / "runs",
        [
            "data.name=support.userdata:SquareMasks",
            "data.num_workers=0",
            "data.batch_size=16",
            "epochs=3",
            "data.augment.hflip=true",
        ],
        preset="shapes-unet",
    )
    assert finished.status == "completed", finished.error
    assert epoch_lines(run_dir)[-1]["val_dice"] > 0.5


DETECT = [
    "data.num_classes=null",
    "data.num_workers=0",
    "data.image_size=48",
    "data.batch_size=8",
    "epochs=1",
]


def test_a_detection_dataset_gets_the_built_in_detection_batches(tmp_path):
    from support.userdata import BoxesOnNoise

    from tui_trainer.engine.data import build_data

    config, _ = load_config(
        "quickstart-detect",
        ["data.name=support.userdata:BoxesOnNoise", *DETECT, f"out={tmp_path}"],
    )
    bundle = build_data(config, torch.device("cpu"))
    assert bundle.class_names == ["dark", "bright"] and bundle.image_size == 48
    assert bundle.split.startswith("split: 38 train / 10 val images, by data.val_split 0.2 of 48")
    x, targets = next(iter(bundle.val.iterate(0)))
    assert x.shape[1:] == (3, 48, 48) and x.dtype == torch.float32
    first = targets[0]
    assert set(first) == {"boxes", "labels", "image_id", "letterbox", "orig_size"}
    _, item_target = BoxesOnNoise()[int(first["image_id"])]
    scale, pad_x, pad_y, _ = first["letterbox"].tolist()
    expected = item_target["boxes"] * scale + torch.tensor([pad_x, pad_y, pad_x, pad_y])
    assert torch.allclose(first["boxes"], expected)  # net = orig * scale + pad
    assert first["orig_size"].tolist() == [30, 40] and scale == pytest.approx(48 / 40)
    assert first["labels"].tolist() == item_target["labels"].tolist()
    bundle.close()


def test_a_detection_run_on_a_user_dataset_reports_map(tmp_path):
    finished, run_dir = run_preset(
        tmp_path / "runs",
        ["data.name=support.userdata:BoxesOnNoise", *DETECT],
        preset="quickstart-detect",
    )
    assert finished.status == "completed", finished.error
    assert "val_map" in epoch_lines(run_dir)[-1]


def test_detection_boxes_of_the_wrong_shape_are_refused_with_nothing_written(tmp_path, capsys):
    out = tmp_path / "runs"
    args = ["run", "quickstart-detect", "data.name=support.userdata:XywhBoxes", *DETECT]
    assert main([*args, f"--out={out}"]) == 2
    err = capsys.readouterr().err.strip()
    assert re.search(r"XywhBoxes item \d+: expected a target dict with \"boxes\" \(k,4\)", err)
    assert "got boxes of shape (" in err and len(err.splitlines()) == 1
    assert not out.exists()
