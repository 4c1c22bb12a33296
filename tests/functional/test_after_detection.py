"""After training a detector: eval's mAP, per-class AP and PR curves; predict's boxes in each
image's own pixels equal validation's; export to ONNX / TorchScript with the post-processing
inside, matching PyTorch; bad input is one line, exit 2, nothing written."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from support.cli import one_line_error
from support.runs import run_preset
from support.runsdirs import make_run

from tui_trainer.after.export import missing_onnx_packages
from tui_trainer.after.loading import open_run
from tui_trainer.cli import main
from tui_trainer.engine.tasks.detection.index import Annotated
from tui_trainer.engine.tasks.detection.loader import DetectionLoader
from tui_trainer.engine.tasks.detection.metrics import unletterbox
from tui_trainer.engine.tasks.detection.shapes import generate_shapes
from tui_trainer.engine.tasks.detection.task import from_model

SIZE = 64
CONFIG = f"""\
task: detection
epochs: 2
seed: 0
device: cpu
data:
  name: detshapes
  num_samples: 64
  image_size: {SIZE}
  batch_size: 16
  val_split: 0.25
model:
  name: fcos_tiny
optim:
  name: adam
  lr: 0.003
progress:
  interval: 0.5
"""
NAMES = ["rectangle", "ellipse", "triangle"]


@pytest.fixture(scope="module")
def det_run(tmp_path_factory) -> Path:
    """One tiny trained detector shared by every test here (a few seconds on 2 cores)."""
    root = tmp_path_factory.mktemp("det")
    preset = root / "det-tiny.yaml"
    preset.write_text(CONFIG)
    finished, run_dir = run_preset(root / "runs", preset=str(preset), tiny=False)
    assert finished.status == "completed", finished.error
    return run_dir


@pytest.fixture(scope="module")
def pictures(tmp_path_factory) -> Path:
    """Generated shape pictures at sizes other than the network's (wide, tall, large), so the
    letterbox scales and pads, and a folder's non-image file beside them."""
    folder = tmp_path_factory.mktemp("pictures") / "imgs"
    folder.mkdir()
    index = generate_shapes(8, SIZE, 1, 3, 4, 0.5)
    sizes = [(96, 64), (50, 80), (160, 160)]
    for i, (a, size) in enumerate(zip(index.val, sizes, strict=False)):
        Image.fromarray(a.pixels).resize(size, Image.BILINEAR).save(folder / f"p{i}.png")
    (folder / "notes.txt").write_text("not a picture")
    return folder


def files_under(path: Path) -> set[str]:
    return {str(p.relative_to(path)) for p in path.rglob("*")}


# -- eval --------------------------------------------------------------------------------------
def test_eval_writes_map_per_class_ap_and_pr_curves(det_run, capsys):
    assert main(["eval", str(det_run), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    best = json.loads((det_run / "summary.json").read_text())["best"]
    assert best["metric"] == "val_map"
    assert result["metrics"]["val_map"] == best["value"]  # the trainer's own validate
    assert 0.0 <= result["metrics"]["val_map"] <= result["metrics"]["val_map50"] <= 1.0
    assert set(result["per_class"]) == set(NAMES)
    assert {"ap", "ap50", "precision", "recall", "instances"} <= set(result["per_class"]["ellipse"])
    [folder] = sorted((det_run / "eval").iterdir())
    with open(folder / "pr_curves.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    curves = result["pr_curves"]
    assert curves and {r["class"] for r in rows} == set(curves)
    for name, curve in curves.items():
        mine = [r for r in rows if r["class"] == name]
        assert [float(r["recall"]) for r in mine] == pytest.approx(curve["recall"])
        assert len(mine) == 101 and float(mine[0]["recall"]) == 0 and float(mine[-1]["recall"]) == 1
        got = [float(r["precision"]) if r["precision"] else None for r in mine]
        assert got == curve["precision"]
    with open(folder / "per_class.csv", newline="") as fh:
        assert {r["class"] for r in csv.DictReader(fh)} == set(NAMES)

    assert main(["eval", str(det_run)]) == 0
    out = capsys.readouterr().out
    assert "per-class AP:" in out and "Dice" not in out and "val_map50" in out


# -- predict -----------------------------------------------------------------------------------
def validation_detections(model: torch.nn.Module, path: Path, conf: float) -> list[dict]:
    """What validation makes of the file `path`: the loader's letterbox and batch, the
    detector's eval output, the evaluator's mapping back to the original pixels."""
    model.score_thresh = conf
    with Image.open(path) as im:
        width, height = im.size
    sample = Annotated(
        boxes=np.zeros((0, 4), np.float32),
        labels=np.zeros(0, np.int64),
        width=width,
        height=height,
        path=path,
    )
    loader = DetectionLoader(
        [sample],
        image_size=SIZE,
        batch_size=1,
        shuffle=False,
        seed=0,
        augment=None,
        num_workers=0,
        pin_memory=False,
        drop_last_single=False,
    )
    [(x, [target])] = list(loader.iterate(0))
    with torch.inference_mode():
        [out] = from_model(model(list(x)))
    keep = out["scores"] >= conf
    boxes = unletterbox(out["boxes"][keep].numpy(), target["letterbox"].numpy(), width, height)
    return [
        {"class": int(c), "score": float(s), "xyxy": b.tolist()}
        for b, s, c in zip(boxes, out["scores"][keep], out["labels"][keep], strict=True)
    ]


def test_predict_boxes_are_validations_in_the_images_own_pixels(
    det_run, pictures, tmp_path, capsys
):
    out = tmp_path / "preds"
    argv = ["predict", str(det_run), str(pictures), "--out", str(out), "--conf", "0.001"]
    assert main(argv) == 0
    captured = capsys.readouterr()
    assert "3 image(s) predicted, 1 non-image file(s) ignored" in captured.err
    preds = json.loads((out / "predictions.json").read_text())
    model = open_run(det_run).model.cpu().eval()
    assert preds and set(preds[0]) == {"file", "class", "name", "score", "bbox"}
    for i in range(3):
        path = pictures / f"p{i}.png"
        mine = [p for p in preds if p["file"] == str(path)]
        expected = validation_detections(model, path, 0.001)
        assert 0 < len(mine) == len(expected) <= 100
        assert [p["class"] for p in mine] == [e["class"] for e in expected]
        assert [p["name"] for p in mine] == [NAMES[e["class"]] for e in expected]
        assert [p["score"] for p in mine] == pytest.approx([e["score"] for e in expected], abs=1e-5)
        for p, e in zip(mine, expected, strict=True):
            x0, y0, x1, y1 = e["xyxy"]
            assert p["bbox"] == pytest.approx([x0, y0, x1 - x0, y1 - y0], abs=0.006)
        with Image.open(path) as original, Image.open(out / "imgs" / f"p{i}_boxes.png") as drawn:
            assert drawn.size == original.size
            w, h = original.size
            assert not np.array_equal(np.asarray(drawn.convert("RGB")), np.asarray(original))
        for p in mine:  # COCO [x, y, w, h] inside the original image
            x, y, bw, bh = p["bbox"]
            assert x >= 0 and y >= 0 and bw >= 0 and bh >= 0
            assert x + bw <= w + 0.01 and y + bh <= h + 0.01
        assert f"p{i}.png  {len(mine)} box(es)" in captured.out


def test_predict_conf_and_max_det_limit_the_boxes(det_run, pictures, tmp_path):
    args = ["predict", str(det_run), str(pictures / "p0.png")]

    def predicted(name: str, *flags: str) -> list[dict]:
        assert main([*args, "--out", str(tmp_path / name), *flags]) == 0
        return json.loads((tmp_path / name / "predictions.json").read_text())

    everything = predicted("all", "--conf", "0.001", "--max-det", "300")
    assert len(everything) > 100  # above the detector's own default cap: --max-det raised it
    scores = [p["score"] for p in everything]
    assert scores == sorted(scores, reverse=True)
    gaps = range(50, 99)  # a cut inside the default --max-det 100
    k = next(i for i in gaps if scores[i] - scores[i + 1] > 1e-4)  # clear of JSON's rounding
    conf = (scores[k] + scores[k + 1]) / 2
    assert len(predicted("conf", "--conf", f"{conf}")) == k + 1  # exactly those scoring >= conf
    best3 = predicted("capped", "--conf", f"{conf}", "--max-det", "3")
    assert [p["score"] for p in best3] == pytest.approx(scores[:3], abs=1e-5)


def test_predict_skips_an_unreadable_image_and_lists_it(det_run, pictures, tmp_path, capsys):
    bad = tmp_path / "broken.png"
    bad.write_text("not a png")
    out = tmp_path / "preds"
    assert (
        main(["predict", str(det_run), str(pictures / "p1.png"), str(bad), "--out", str(out)]) == 0
    )
    assert f"skipped {bad}" in capsys.readouterr().err
    assert (out / "predictions.json").is_file() and (out / "p1_boxes.png").is_file()
    with open(out / "skipped.csv", newline="") as fh:
        assert [r["file"] for r in csv.DictReader(fh)] == [str(bad)]


# -- export ------------------------------------------------------------------------------------
def first_validation_image(run_dir: Path) -> tuple[torch.Tensor, dict]:
    run = open_run(run_dir)
    model = run.model.cpu().eval()
    x, _targets = next(iter(run.data.val.iterate(0)))
    image = x[1]
    with torch.inference_mode():
        [out] = model([image])
    return image, out


def exported_sidecar(path: Path) -> dict:
    meta = json.loads(path.with_name(path.name + ".json").read_text())
    assert meta["task"] == "detection" and meta["class_names"] == NAMES
    assert meta["input"]["shape"] == [3, SIZE, SIZE] and meta["input"]["range"] == [0.0, 1.0]
    assert "label - 1" in meta["outputs"]["labels"] and "network" in meta["outputs"]["boxes"]
    assert meta["postprocessing"]["max_detections"] == 100
    return meta


def test_export_torchscript_detects_as_pytorch_does(det_run, tmp_path, capsys):
    target = tmp_path / "det.torchscript.pt"
    assert main(["export", str(det_run), "--format", "torchscript", "--out", str(target)]) == 0
    assert "detections match PyTorch" in capsys.readouterr().out
    exported_sidecar(target)
    image, expected = first_validation_image(det_run)
    loaded = torch.jit.load(str(target))
    with torch.inference_mode():
        boxes, scores, labels = loaded(image)
    assert len(boxes) == len(expected["boxes"]) > 0
    torch.testing.assert_close(boxes, expected["boxes"], atol=1e-3, rtol=0)
    torch.testing.assert_close(scores, expected["scores"], atol=1e-5, rtol=0)
    assert torch.equal(labels, expected["labels"]) and int(labels.min()) >= 1  # 0 = background


@pytest.mark.skipif(bool(missing_onnx_packages()), reason="the onnx extra is not installed")
def test_export_onnx_detects_as_pytorch_does_in_onnxruntime(det_run, tmp_path, capsys):
    import onnxruntime

    target = tmp_path / "det.onnx"
    assert main(["export", str(det_run), "--format", "onnx", "--out", str(target)]) == 0
    capsys.readouterr()
    exported_sidecar(target)
    image, expected = first_validation_image(det_run)
    session = onnxruntime.InferenceSession(str(target), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == ["image"]
    boxes, scores, labels = session.run(None, {"image": image.numpy()})
    assert len(boxes) == len(expected["boxes"]) > 0
    np.testing.assert_allclose(boxes, expected["boxes"].numpy(), atol=1e-3, rtol=0)
    np.testing.assert_allclose(scores, expected["scores"].numpy(), atol=1e-5, rtol=0)
    np.testing.assert_array_equal(labels, expected["labels"].numpy())
    # another image: the number of detections is not fixed by the one the graph was traced on
    black = torch.zeros_like(image)
    with torch.inference_mode():
        [other] = open_run(det_run).model.cpu().eval()([black])
    assert len(session.run(None, {"image": black.numpy()})[0]) == len(other["boxes"])


# -- bad input ---------------------------------------------------------------------------------
BAD = [
    (["--conf", "1.5"], ["--conf", "[0, 1]", "1.5"]),
    (["--conf", "-0.1"], ["--conf", "[0, 1]"]),
    (["--conf", "nan"], ["--conf", "[0, 1]", "nan"]),
    (["--max-det", "0"], ["--max-det", ">= 1", "0"]),
    (["--top-k", "2"], ["--top-k", "classification", "--conf"]),
]


@pytest.mark.parametrize(("flags", "fragments"), BAD, ids=[" ".join(b[0]) for b in BAD])
def test_bad_predict_flags_are_one_line_exit_2_nothing_written(
    det_run, pictures, tmp_path, capsys, flags, fragments
):
    before = files_under(det_run)
    out = tmp_path / "preds"
    assert main(["predict", str(det_run), str(pictures), "--out", str(out), *flags]) == 2
    err = one_line_error(capsys)
    for fragment in fragments:
        assert fragment in err, err
    assert not out.exists() and files_under(det_run) == before


OTHER_TASKS = {
    "classification": {},
    "segmentation": {
        "task": "segmentation",
        "data": {"name": "shapes", "batch_size": 16},
        "model": {"name": "unet"},
    },
}
FLAGS = [
    ("classification", "--conf", "detection runs only"),
    ("classification", "--max-det", "detection runs only"),
    ("segmentation", "--conf", "detection runs only"),
    ("segmentation", "--max-det", "detection runs only"),
    ("segmentation", "--top-k", "classification runs only"),
]


@pytest.mark.parametrize(("task", "flag", "fragment"), FLAGS, ids=[f"{t} {f}" for t, f, _ in FLAGS])
def test_a_flag_the_runs_task_has_no_use_for_is_refused(
    tmp_path, pictures, capsys, task, flag, fragment
):
    run_dir = make_run(tmp_path / "runs", "p", "r", **OTHER_TASKS[task])
    before = files_under(run_dir)
    assert main(["predict", str(run_dir), str(pictures), flag, "1"]) == 2
    err = one_line_error(capsys)
    assert flag in err and fragment in err and f"task: {task}" in err
    assert files_under(run_dir) == before


def test_only_unreadable_images_is_one_line_exit_2_nothing_written(det_run, tmp_path, capsys):
    bad = tmp_path / "in" / "broken.png"
    bad.parent.mkdir()
    bad.write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    before = files_under(det_run)
    assert main(["predict", str(det_run), str(bad.parent), "--out", str(tmp_path / "o")]) == 2
    err = one_line_error(capsys)
    assert "IMAGE_OR_FOLDER" in err and "broken.png" in err
    assert not (tmp_path / "o").exists() and files_under(det_run) == before


def test_a_full_disk_is_one_line_exit_1_nothing_left(det_run, tmp_path, capsys):
    from support.disk import small_disk

    noise = np.random.default_rng(0).integers(0, 256, (700, 700, 3), dtype=np.uint8)
    inputs = tmp_path / "big"
    inputs.mkdir()
    for i in range(4):  # each drawn copy ~1.4 MB of incompressible PNG: more than the disk
        Image.fromarray(np.roll(noise, i, axis=0)).save(inputs / f"n{i}.png")
    with small_disk(tmp_path / "disk", "3m") as disk:
        assert main(["predict", str(det_run), str(inputs), "--out", str(disk / "preds")]) == 1
        err = one_line_error(capsys)
        assert "--out" in err and "nothing was written" in err
        assert list(disk.iterdir()) == []
