"""Folder data that should not fail a run, or should fail it clearly (naming the file)."""

from __future__ import annotations

import multiprocessing
import os

import numpy as np
import pytest
import torch
from PIL import Image
from test_image_folders import folder_config, make_jpegs
from test_segmentation import CARVANA, make_carvana

from tui_trainer.cli import main
from tui_trainer.config import load_config
from tui_trainer.engine.data import build_data
from tui_trainer.runlog.control import Control
from tui_trainer.runlog.events import LogMessage, RunStarted
from tui_trainer.session import execute

CPU = torch.device("cpu")


def _truncate(path):
    path.write_bytes(path.read_bytes()[:300])


def _garble(path):
    """Random bytes over the headers (garbled entropy data alone decodes to noise, silently)."""
    data = bytearray(path.read_bytes())
    noise = np.random.default_rng(0).integers(0, 256, 300, dtype=np.uint8)
    data[20:320] = bytes(noise)
    path.write_bytes(bytes(data))


def _not_an_image(path):
    path.write_bytes(b"this is not a JPEG at all")


class Recorder:
    """Keeps log lines; runs `on_start` when training is about to begin (files are listed)."""

    def __init__(self, on_start=None):
        self.on_start, self.logs = on_start, []

    def __call__(self, event):
        if isinstance(event, RunStarted) and self.on_start:
            self.on_start()
        elif isinstance(event, LogMessage):
            self.logs.append(event.message)


# -- bad images ----------------------------------------------------------------------------------
@pytest.mark.parametrize("workers", [0, 2])
@pytest.mark.parametrize("damage", ["truncate", "garble", "not_an_image", "delete"])
def test_a_bad_image_mid_epoch_fails_the_run_naming_the_file(tmp_path, workers, damage):
    root = make_jpegs(tmp_path / "imgs")
    victims = [root / "dog" / "03.jpg", root / "cat" / "05.jpg"]
    config = folder_config(root, tmp_path, f"data.num_workers={workers}", "data.cache=none")

    def spoil():
        for victim in victims:
            if damage == "delete":
                victim.unlink()
            else:
                globals()[f"_{damage}"](victim)

    finished = execute(config, "q", sinks=[Recorder(spoil)], control=Control())
    assert finished.status == "failed"
    error = finished.error or ""
    assert len(error.splitlines()) == 1, error
    assert any(str(v) in error for v in victims), error
    assert "data.on_bad_image=skip" in error
    # the loader's workers ended with the run, not later at garbage collection (which stalled
    # whatever ran then by the workers' join timeout)
    assert multiprocessing.active_children() == []


def test_bad_images_can_be_skipped_with_a_warning_and_a_count(tmp_path):
    root = make_jpegs(tmp_path / "imgs")
    _truncate(root / "dog" / "03.jpg")
    _not_an_image(root / "cat" / "05.jpg")
    config = folder_config(
        root, tmp_path, "data.num_workers=2", "data.on_bad_image=skip", "epochs=3"
    )
    recorder = Recorder()
    finished = execute(config, "q", sinks=[recorder], control=Control())
    assert finished.status == "completed", finished.error
    skipped = [m for m in recorder.logs if m.startswith("skipped:")]
    assert len(skipped) == 2  # each bad file reported once, not once per epoch
    assert "05.jpg" in " ".join(skipped) and "03.jpg" in " ".join(skipped)
    assert skipped[-1].endswith("(2 image(s) skipped so far)")


# -- what a folder walk must not read -------------------------------------------------------------
def test_hidden_files_and_folders_are_not_images_or_classes(tmp_path):
    root = make_jpegs(tmp_path / "imgs")
    for folder in (root / "cat", root / "dog"):
        (folder / "._00.jpg").write_bytes(b"\x00\x05\x16\x07 AppleDouble")  # resource forks
        (folder / ".DS_Store").write_bytes(b"\x00\x00\x00\x01Bud1")
    for meta in (root / ".Trashes" / "501", root / "__MACOSX" / "cat", root / "cat" / ".thumbs"):
        meta.mkdir(parents=True)
        (meta / "x.jpg").write_bytes(b"garbage")
    data = build_data(folder_config(root, tmp_path), CPU)
    assert data.class_names == ["cat", "dog"]
    assert data.train_samples + data.val_samples == 20
    for loader in (data.make_train(4), data.val):
        assert sum(len(y) for _, y in loader) > 0  # and everything listed decodes


def test_links_never_read_an_image_twice_or_under_another_label(tmp_path):
    root = make_jpegs(tmp_path / "imgs")
    elsewhere = make_jpegs(tmp_path / "elsewhere", per_class=2, classes=("bird",))
    (root / "cat" / "loop").symlink_to(root, target_is_directory=True)  # back into the root
    (root / "dog" / "out").symlink_to(elsewhere / "bird", target_is_directory=True)
    (root / "mirror").symlink_to(root / "cat", target_is_directory=True)  # a class twice
    (root / "dog" / "dup.jpg").symlink_to(root / "cat" / "00.jpg")  # a cat labelled dog
    (root / "dog" / "farm.jpg").symlink_to(elsewhere / "bird" / "00.jpg")  # a linked file: read
    recorder = Recorder()
    config = folder_config(root, tmp_path)
    data = build_data(config, CPU)
    assert data.class_names == ["cat", "dog"]
    assert data.train_samples + data.val_samples == 21  # 20 + the linked file
    assert any("3 linked folder(s) not followed" in n for n in data.notes), data.notes
    assert any("1 link(s) to an image already listed" in n for n in data.notes), data.notes
    finished = execute(config, "q", sinks=[recorder], control=Control())
    assert finished.status == "completed"
    assert any("linked folder(s) not followed" in m for m in recorder.logs)


# -- segmentation folders ------------------------------------------------------------------------
def _carvana_config(root, tmp_path, *extra):
    overrides = [*CARVANA, f"data.root={root}", f"out={tmp_path / 'runs'}", *extra]
    return load_config("carvana-unet", overrides)[0]


def test_mask_folders_skip_hidden_files_too(tmp_path):
    root = tmp_path / "carvana"
    make_carvana(root, n=6)
    (root / "train" / "._car00.png").write_bytes(b"\x00\x05\x16\x07")
    (root / "train_masks" / "._car00_mask.gif").write_bytes(b"\x00\x05\x16\x07")
    (root / "train" / ".Trashes").mkdir()
    data = build_data(_carvana_config(root, tmp_path), CPU)
    assert data.train_samples + data.val_samples == 6


@pytest.mark.parametrize("workers", [0, 2])
def test_a_mask_of_another_size_is_refused_naming_it(tmp_path, workers):
    root = tmp_path / "carvana"
    make_carvana(root, n=6)
    mask = root / "train_masks" / "car03_mask.gif"
    Image.open(mask).resize((20, 15)).save(mask)  # the image is 40x30
    config = _carvana_config(root, tmp_path, f"data.num_workers={workers}")
    finished = execute(config, "c", sinks=[], control=Control())
    assert finished.status == "failed"
    assert f"mask '{mask}' is 20x15 but its image" in finished.error
    assert "car03.png' is 40x30" in finished.error
    config = _carvana_config(root, tmp_path, "data.on_bad_image=skip")
    recorder = Recorder()
    assert execute(config, "c", sinks=[recorder], control=Control()).status == "completed"
    assert sum(m.startswith("skipped: mask") for m in recorder.logs) == 1


# -- splits that cannot be made: one line, exit 2, nothing written --------------------------------
SPLITS = [
    ("a class with one image", ["class 'dog' has 1 image", "at least 2 per class"]),
    ("val_split leaves too few", ["data.val_split: 0.9 of 11 images", "fewer than the 2"]),
    ("digits val_split", ["data.val_split: 0.9999 of 1797 digits leaves 0 to train on"]),
    ("fake val_split", ["data.val_split: 0.99 of 10 images leaves 0 to train on"]),
    ("segfolder val_split", ["data.val_split: 0.9 of 4 pairs leaves 0 to train on"]),
]


@pytest.mark.parametrize(("name", "fragments"), SPLITS, ids=[s[0] for s in SPLITS])
def test_a_split_that_cannot_be_made_is_bad_input(tmp_path, capsys, name, fragments):
    out = tmp_path / "runs"
    root = tmp_path / "imgs"
    if name == "a class with one image":
        make_jpegs(root, per_class=10, classes=("cat",))
        make_jpegs(root, per_class=1, classes=("dog",))
        args = ["quickstart", "data.name=imagefolder", f"data.root={root}"]
    elif name == "val_split leaves too few":
        make_jpegs(root, per_class=10, classes=("cat",))
        make_jpegs(root, per_class=1, classes=("dog",))
        (root / "dog" / "00.jpg").rename(root / "dog" / "a.jpg")
        Image.open(root / "dog" / "a.jpg").save(root / "dog" / "b.jpg")
        os.remove(root / "cat" / "09.jpg")
        args = ["quickstart", "data.name=imagefolder", f"data.root={root}", "data.val_split=0.9"]
    elif name == "digits val_split":
        args = ["quickstart", "data.val_split=0.9999"]
    elif name == "fake val_split":
        args = ["fake-benchmark", "data.num_samples=10", "data.val_split=0.99"]
    else:
        make_carvana(tmp_path / "carvana", n=4)
        args = ["carvana-unet", *CARVANA, f"data.root={tmp_path / 'carvana'}", "data.val_split=0.9"]
    rc = main(["run", *args, "device=cpu", "--out", str(out)])
    err = capsys.readouterr().err.strip()
    assert rc == 2, err
    assert len(err.splitlines()) == 1, err
    for fragment in fragments:
        assert fragment in err, err
    assert not out.exists()
