"""Picture sets on disk: tiles at the configured size, index.json, grid.png, atomic
replacement; the confusion heatmap; the `samples` record."""

from __future__ import annotations

import json

import pytest
import torch
from PIL import Image

from tui_trainer.engine.pictures.heatmap import confusion_png
from tui_trainer.engine.pictures.sets import build
from tui_trainer.engine.pictures.shots import Captured, Shot
from tui_trainer.engine.pictures.write import put_set
from tui_trainer.runlog.events import SamplesWritten
from tui_trainer.runlog.layout import KEPT
from tui_trainer.runlog.pictures import GRID, INDEX, read_set
from tui_trainer.runlog.records import from_record, to_record


def _classes(n: int = 3) -> Captured:
    shots = [
        Shot(position=i * 5, image=torch.rand(1, 8, 6), true_id=i % 2, pred_id=1, confidence=0.9)
        for i in range(n)
    ]
    return Captured("classification", samples=shots, mistakes=shots[:1], confusion=[[1, 2], [0, 3]])


def test_a_set_is_written_with_tiles_at_the_size_and_its_index_reads_back(tmp_path):
    pset, tiles = build(_classes(), "samples", epoch=3, class_names=["cat", "dog"], size=64,
                        name=lambda p: f"val/{p}.png")  # fmt: skip
    put_set(tmp_path / "samples/epoch-0003", pset, tiles)
    folder = tmp_path / "samples/epoch-0003"
    assert sorted(p.name for p in folder.iterdir()) == ["00.png", "01.png", "02.png", GRID, INDEX]
    with Image.open(folder / "00.png") as img:
        assert max(img.size) == 64 and img.size == (48, 64)  # 6x8 nearest-upscaled, aspect kept
    with Image.open(folder / GRID) as img:
        assert img.width >= 3 * 48
    back = read_set(folder)
    assert back == pset
    assert [p.name for p in back.pictures] == ["val/0.png", "val/5.png", "val/10.png"]
    assert [(p.true, p.pred, p.correct) for p in back.pictures] == [
        ("cat", "dog", False), ("dog", "dog", True), ("cat", "dog", False)
    ]  # fmt: skip
    assert back.epoch == 3 and back.confusion is None


def test_mistakes_carry_the_confusion_and_replace_the_old_set_whole(tmp_path):
    folder = tmp_path / "samples/mistakes"
    first, tiles = build(_classes(3), "samples", epoch=1, class_names=["a", "b"], size=32)
    put_set(folder, first, tiles)
    pset, tiles = build(_classes(), "mistakes", epoch=2, class_names=["a", "b"], size=32)
    put_set(folder, pset, tiles)
    back = read_set(folder)
    assert back is not None and back.kind == "mistakes" and back.epoch == 2
    assert back.confusion == [[1, 2], [0, 3]] and len(back.pictures) == 1
    assert not (folder / "01.png").exists()  # nothing of the old set is left
    assert [p.name for p in (tmp_path / "samples").iterdir()] == ["mistakes"]  # no temp folders


def test_a_failed_write_leaves_the_old_set_and_no_half_folder(tmp_path, monkeypatch):
    folder = tmp_path / "samples/mistakes"
    pset, tiles = build(_classes(), "mistakes", epoch=1, class_names=["a", "b"], size=32)
    put_set(folder, pset, tiles)

    def full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Image.Image, "save", full)
    newer, tiles = build(_classes(), "mistakes", epoch=2, class_names=["a", "b"], size=32)
    with pytest.raises(OSError):
        put_set(folder, newer, tiles)
    assert read_set(folder).epoch == 1
    assert [p.name for p in (tmp_path / "samples").iterdir()] == ["mistakes"]


def test_segmentation_and_detection_tiles_show_their_panels(tmp_path):
    mask = torch.zeros(8, 8, dtype=torch.int64)
    mask[:4] = 1
    seg = Captured("segmentation", samples=[
        Shot(position=0, image=torch.rand(3, 8, 8), score=0.4, true_mask=mask, pred_mask=1 - mask)
    ])  # fmt: skip
    pset, tiles = build(seg, "samples", epoch=1, class_names=["bg", "fg"], size=32)
    assert tiles[0].size == (3 * 32 + 2 * 2, 32)  # image | true | predicted, 2 px apart
    assert pset.pictures[0].score == 0.4 and not pset.pictures[0].correct
    det = Captured("detection", mistakes=[
        Shot(position=2, image=torch.zeros(3, 16, 16), score=0.0,
             true_boxes=torch.tensor([[1.0, 1, 8, 8, 0]]),
             pred_boxes=torch.tensor([[4.0, 4, 12, 12, 0.9, 0]]))
    ])  # fmt: skip
    pset, tiles = build(det, "mistakes", epoch=1, class_names=["box"], size=32)
    pixels = tiles[0].load()
    assert pixels[2, 2] == (0, 200, 0)  # the true box's green edge, scaled ×2
    assert pixels[8, 20] == (230, 0, 0)  # the predicted box's red left edge
    assert pset.pictures[0].name == "val #2"


def test_confusion_heatmap_is_row_normalised_with_names():
    img = confusion_png([[8, 2], [0, 5]], ["cat", "dog"])
    assert img.mode == "RGB" and img.width > 2 * 28 and img.height > 2 * 28
    big = confusion_png([[1] * 40 for _ in range(40)], [f"c{i}" for i in range(40)])
    assert big.width < 1200  # cells shrink for many classes


def test_the_samples_record_is_written_and_read_back_and_kept():
    event = SamplesWritten(3, "samples/epoch-0003", "samples/mistakes")
    record = to_record(event, 1.0)
    assert record == {"event": "samples", "time": 1.0, "epoch": 3,
                      "dir": "samples/epoch-0003", "mistakes": "samples/mistakes"}  # fmt: skip
    assert from_record(json.loads(json.dumps(record))) == event
    assert from_record({**record, "mistakes": None}) == SamplesWritten(3, "samples/epoch-0003")
    assert "samples" in KEPT


def test_user_datasets_that_list_their_files_name_their_pictures(tmp_path):
    from tui_trainer.engine.data.names import dataset_namer, namer

    class Listed:
        samples = (("a/0.png", 0), ("b/1.png", 1), ("c/2.png", 0))

    name = dataset_namer(Listed(), [2, 0])
    assert name is not None and [name(0), name(1), name(5)] == ["c/2.png", "a/0.png", ""]
    assert dataset_namer(object(), [0]) is None
    files = namer([tmp_path / "x" / "1.png", None, tmp_path.parent / "2.png"], tmp_path)
    assert [files(0), files(1), files(2)] == ["x/1.png", "", "2.png"]
