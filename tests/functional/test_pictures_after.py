"""Pictures beyond the epoch's samples: `eval`'s mistakes and confusion heatmap, TensorBoard's
image summaries, detection tiles named by their files, image folders' file names."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image
from support.detdata import write_yolo
from support.runs import run_preset

from tui_trainer.after.evaluate import evaluate_run, write_eval
from tui_trainer.engine.tasks.detection.shapes import generate_shapes
from tui_trainer.runlog.pictures import CONFUSION_PNG, MISTAKES, latest_mistakes, read_set


def test_eval_writes_its_mistakes_and_a_confusion_heatmap(tmp_path):
    finished, run_dir = run_preset(tmp_path, ["epochs=1", "pictures.mistakes=6"])
    assert finished.status == "completed"
    result = evaluate_run(run_dir)
    assert result.mistakes is not None and result.mistakes.epoch is None
    assert len(result.mistakes.pictures) == 6
    assert result.mistakes.confusion == result.details["confusion_matrix"]["matrix"]
    folder = write_eval(result)
    assert read_set(folder / MISTAKES) == result.mistakes
    assert sorted(p.name for p in (folder / MISTAKES).glob("*.png"))[:2] == ["00.png", "01.png"]
    with Image.open(folder / CONFUSION_PNG) as img:
        assert img.mode == "RGB" and min(img.size) > 10 * 28  # 10 classes of 28 px cells
    assert latest_mistakes(run_dir) == folder / MISTAKES  # what viewers show after an eval


def test_tensorboard_gets_the_grids_as_image_summaries(tmp_path):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    finished, run_dir = run_preset(tmp_path, ["log.tensorboard=true"])
    assert finished.status == "completed"
    acc = EventAccumulator(str(run_dir), size_guidance={"images": 0})
    acc.Reload()
    assert {"samples", "mistakes"} <= set(acc.Tags()["images"])
    samples = acc.Images("samples")
    assert [e.step for e in samples] == [1, 2]
    grid = run_dir / "samples" / "epoch-0002" / "grid.png"
    assert samples[-1].encoded_image_string == grid.read_bytes()
    with Image.open(grid) as img:
        assert (samples[-1].width, samples[-1].height) == img.size


def test_detection_tiles_carry_boxes_and_their_files_names(tmp_path):
    root = tmp_path / "data"
    write_yolo(generate_shapes(24, 48, 0, 3, 2, 0.25), root)
    overrides = ["epochs=1", "device=cpu", "data.name=yolo", f"data.root={root}",
                 "data.image_size=48", "data.batch_size=8", "pictures.size=48"]  # fmt: skip
    finished, run_dir = run_preset(tmp_path / "runs", overrides, preset="quickstart-detect",
                                   tiny=False)  # fmt: skip
    assert finished.status == "completed", finished.error
    pset = read_set(run_dir / "samples" / "epoch-0001")
    assert pset is not None and pset.task == "detection" and pset.pictures
    val_files = {p.relative_to(root).as_posix() for p in root.rglob("*") if p.suffix == ".png"}
    assert {p.name for p in pset.pictures} <= val_files
    assert all(p.score is not None and 0 <= p.score <= 1 for p in pset.pictures)
    with Image.open(run_dir / "samples" / "epoch-0001" / pset.pictures[0].file) as img:
        assert img.size == (48, 48)
    mistakes = read_set(run_dir / "samples" / "mistakes")
    scores = [p.score for p in mistakes.pictures]
    assert scores == sorted(scores)


def test_image_folder_pictures_are_named_by_their_files(tmp_path):
    root = tmp_path / "folders"
    for colour in ("red", "blue"):
        (root / colour).mkdir(parents=True)
        for i in range(10):
            Image.new("RGB", (12, 12), colour).save(root / colour / f"{colour}{i}.png")
    overrides = ["epochs=1", "device=cpu", "data.name=imagefolder", f"data.root={root}",
                 "data.image_size=16", "data.batch_size=4", "data.num_workers=0",
                 "model.name=small_cnn", "pictures.samples=4"]  # fmt: skip
    finished, run_dir = run_preset(tmp_path / "runs", overrides, tiny=False)
    assert finished.status == "completed", finished.error
    pset = read_set(run_dir / "samples" / "epoch-0001")
    names = [p.name for p in pset.pictures]
    assert len(names) == 4 and all(Path(root / n).is_file() for n in names), names
    assert all(n.startswith(f"{p.true}/") for n, p in zip(names, pset.pictures, strict=True))
