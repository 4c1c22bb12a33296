"""After training: eval reproduces the best metric, predict matches validation, export
round-trips, bad input is one line."""

from __future__ import annotations

import csv
import json
import warnings
from pathlib import Path
from typing import ClassVar

import numpy as np
import pytest
import torch
from PIL import Image
from support.runs import epoch_lines, run_preset

from tui_trainer.after.export import missing_onnx_packages
from tui_trainer.after.loading import open_run
from tui_trainer.cli import main
from tui_trainer.engine.tasks.segmentation.metrics import hard_predictions

QUICK = ["epochs=2", "device=cpu", "progress.interval=0.5"]
# shapes-unet shrunk further than tests/test_segmentation.py's SMALL: a couple of seconds.
SEG = [
    "device=cpu",
    "epochs=1",
    "data.num_samples=64",
    "data.image_size=32",
    "data.batch_size=16",
    "model.kwargs={width: 8, depth: 2}",
    "progress.interval=0.5",
]


def train(root: Path, preset: str, overrides: list[str]) -> Path:
    finished, run_dir = run_preset(root, overrides, preset=preset, tiny=False)
    assert finished.status == "completed", finished.error
    return run_dir


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory) -> Path:
    return train(tmp_path_factory.mktemp("digits"), "quickstart", QUICK)


@pytest.fixture(scope="module")
def shapes_run(tmp_path_factory) -> Path:
    return train(tmp_path_factory.mktemp("shapes"), "shapes-unet", SEG)


def summary_best(run_dir: Path) -> dict:
    return json.loads((run_dir / "summary.json").read_text())["best"]


def eval_dirs(run_dir: Path) -> list[Path]:
    return sorted((run_dir / "eval").iterdir()) if (run_dir / "eval").is_dir() else []


def files_under(path: Path) -> set[str]:
    return {str(p.relative_to(path)) for p in path.rglob("*")}


# -- eval --------------------------------------------------------------------------------------
def test_eval_of_best_reproduces_the_runs_best_accuracy_exactly(digits_run, capsys):
    assert main(["eval", str(digits_run)]) == 0
    out = capsys.readouterr().out
    best = summary_best(digits_run)
    [folder] = eval_dirs(digits_run)
    result = json.loads((folder / "eval.json").read_text())
    assert result["metrics"]["val_accuracy"] == best["value"]  # exactly, not approximately
    assert result["reproduces_run_best"] is True and result["run_best"]["epoch"] == best["epoch"]
    assert "reproduced exactly" in out and "confusion matrix" in out and "recall" in out
    with open(folder / "confusion_matrix.csv") as fh:
        rows = list(csv.reader(fh))
    assert rows[0][1:] == [str(i) for i in range(10)]
    matrix = np.array([[int(v) for v in r[1:]] for r in rows[1:]])
    assert matrix.sum() == result["samples"] == 360
    assert np.trace(matrix) / matrix.sum() == pytest.approx(best["value"])
    assert set(result["per_class"]) == {str(i) for i in range(10)}
    # A second eval never replaces the first.
    assert main(["eval", str(digits_run), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["metrics"] == result["metrics"]
    assert len(eval_dirs(digits_run)) == 2


def test_eval_of_last_equals_the_last_epoch(digits_run, capsys):
    assert main(["eval", str(digits_run), "--checkpoint", "last", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    last = epoch_lines(digits_run)[-1]
    assert result["metrics"]["val_accuracy"] == last["val_accuracy"]
    assert result["metrics"]["val_loss"] == pytest.approx(last["val_loss"], rel=1e-6)


def test_eval_of_best_reproduces_the_runs_best_dice_exactly(shapes_run, capsys):
    assert main(["eval", str(shapes_run), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    best = summary_best(shapes_run)
    assert best["metric"] == "val_dice"
    assert result["metrics"]["val_dice"] == best["value"]
    assert result["reproduces_run_best"] is True
    per_class = result["per_class"]
    assert set(per_class) == {"background", "shape"}
    assert per_class["shape"]["dice"] == pytest.approx(best["value"])
    assert "confusion_matrix" not in result
    assert (Path(eval_dirs(shapes_run)[-1]) / "per_class.csv").is_file()


# -- predict -----------------------------------------------------------------------------------
def _binary_digits(run_dir: Path, folder: Path, n: int = 12):
    """Validation digits made black/white (0 or 16), so a PNG (0/255) holds them exactly."""
    run = open_run(run_dir)
    x_raw = run.data.val.images[:n].cpu()
    x_bin = torch.where(x_raw >= 8, 16.0, 0.0)
    folder.mkdir()
    for i, img in enumerate(x_bin):
        Image.fromarray((img[0] * 255 / 16).to(torch.uint8).numpy()).save(folder / f"{i:02d}.png")
    with torch.inference_mode():
        probs = run.model(run.data.val.transform(x_bin)).softmax(1)
    return probs


def test_predict_gives_the_classes_the_model_predicts_on_validation_input(
    digits_run, tmp_path, capsys
):
    probs = _binary_digits(digits_run, tmp_path / "imgs")
    (tmp_path / "imgs" / "readme.txt").write_text("not an image")
    (tmp_path / "imgs" / ".hidden.png").write_text("hidden")
    (tmp_path / "imgs" / "broken.png").write_text("not a png")
    Image.fromarray(np.full((40, 30, 3), 200, np.uint8)).save(tmp_path / "imgs" / "big.jpg")
    out = tmp_path / "pred"
    code = main(["predict", str(digits_run), str(tmp_path / "imgs"), "--out", str(out)])
    captured = capsys.readouterr()
    assert code == 0
    assert "broken.png" in captured.err and "1 skipped" in captured.err
    assert ".hidden" not in captured.out + captured.err
    with open(out / "predictions.csv") as fh:
        rows = list(csv.DictReader(fh))
    top = {Path(r["file"]).name: r for r in rows if r["rank"] == "1"}
    assert len(rows) == 3 * 13 and "big.jpg" in top  # 12 digits + the resized JPEG, top-3
    values, indices = probs.max(1)
    for i in range(len(probs)):
        row = top[f"{i:02d}.png"]
        assert row["class"] == str(int(indices[i]))
        assert float(row["probability"]) == pytest.approx(float(values[i]), abs=1e-6)
    first = next(line for line in captured.out.splitlines() if "00.png" in line)
    assert first.split()[:2] == [str(tmp_path / "imgs" / "00.png"), str(int(indices[0]))]
    with open(out / "skipped.csv") as fh:
        assert [r["file"] for r in csv.DictReader(fh)] == [str(tmp_path / "imgs" / "broken.png")]


def test_predict_segmentation_writes_masks_at_each_images_size(shapes_run, tmp_path):
    run = open_run(shapes_run)
    x = run.data.val.images[:2].cpu()  # uint8 (2, 3, 32, 32)
    folder = tmp_path / "imgs"
    folder.mkdir()
    Image.fromarray(x[0].permute(1, 2, 0).numpy()).save(folder / "a.png")
    big = Image.fromarray(x[1].permute(1, 2, 0).numpy()).resize((50, 40))
    big.save(folder / "b.png")
    with torch.inference_mode():
        expected = hard_predictions(run.model(run.data.val.transform(x[:1])))[0].numpy()
    out = tmp_path / "masks"
    assert main(["predict", str(shapes_run), str(folder), "--out", str(out)]) == 0
    mask_a = np.asarray(Image.open(out / "imgs" / "a_mask.png"))
    assert mask_a.shape == (32, 32) and set(np.unique(mask_a)) <= {0, 255}
    assert np.array_equal(mask_a == 255, expected == 1)  # the validation prediction, exactly
    mask_b = Image.open(out / "imgs" / "b_mask.png")
    assert mask_b.size == (50, 40) and mask_b.mode == "L"
    assert Image.open(out / "imgs" / "b_overlay.png").size == (50, 40)
    with open(out / "predictions.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["mask"] for r in rows] == ["imgs/a_mask.png", "imgs/b_mask.png"]
    fraction = float(rows[0]["shape_fraction"])
    assert fraction == pytest.approx((expected == 1).mean(), abs=1e-6)


# -- export ------------------------------------------------------------------------------------
def test_export_torchscript_round_trips_with_its_preprocessing(digits_run, capsys):
    assert main(["export", str(digits_run), "--format", "torchscript"]) == 0
    out = capsys.readouterr().out
    assert "max |diff|" in out and "tolerance" in out
    model_file = digits_run / "export" / "best.torchscript.pt"
    meta = json.loads((digits_run / "export" / "best.torchscript.pt.json").read_text())
    assert meta["class_names"] == [str(i) for i in range(10)] and meta["task"] == "classification"
    assert meta["input_shape"] == ["N", 1, 8, 8] and meta["mean"] == [0.3053]
    run = open_run(digits_run)
    x = next(iter(run.data.val.iterate(0)))[0][:5]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # torch.jit is deprecated upstream
        loaded = torch.jit.load(str(model_file))
    with torch.inference_mode():
        torch.testing.assert_close(loaded(x), run.model(x), atol=1e-5, rtol=1e-4)
    # Exporting again writes new files beside the first ones.
    assert main(["export", str(digits_run), "--format", "torchscript"]) == 0
    assert (digits_run / "export" / "best-2.torchscript.pt").is_file()


@pytest.mark.slow  # the torch.export-based ONNX exporter takes ~10 s here
def test_export_onnx_round_trips(shapes_run, tmp_path, capsys):
    if missing_onnx_packages():
        pytest.skip(f"onnx extra not installed ({', '.join(missing_onnx_packages())})")
    import onnxruntime

    target = tmp_path / "seg.onnx"
    assert main(["export", str(shapes_run), "--format", "onnx", "--out", str(target)]) == 0
    meta = json.loads((tmp_path / "seg.onnx.json").read_text())
    assert meta["task"] == "segmentation" and meta["input_shape"] == ["N", 3, 32, 32]
    run = open_run(shapes_run)
    x = next(iter(run.data.val.iterate(0)))[0][:3]
    session = onnxruntime.InferenceSession(str(target), providers=["CPUExecutionProvider"])
    got = session.run(None, {session.get_inputs()[0].name: x.numpy()})[0]
    with torch.inference_mode():
        np.testing.assert_allclose(got, run.model(x).numpy(), atol=1e-4, rtol=1e-3)


def test_onnx_extra_missing_is_one_line(digits_run, monkeypatch, capsys):
    monkeypatch.setattr("tui_trainer.after.export.missing_onnx_packages", lambda: ["onnxruntime"])
    before = files_under(digits_run)
    assert main(["export", str(digits_run), "--format", "onnx"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "pip install 'tui-trainer[onnx]'" in err
    assert files_under(digits_run) == before


# -- bad input ---------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def other_arch_checkpoint(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("other")
    run = train(root, "quickstart", [*QUICK, "epochs=1", "model.kwargs.channels=[4, 8]"])
    return run / "checkpoints" / "best.pt"


def _not_image(t: Path) -> str:
    (t / "fake.png").write_text("hello")
    return str(t / "fake.png")


def _file(t: Path) -> str:
    (t / "f").write_text("x")
    return str(t / "f")


BAD = [
    # (name, args after RUN_DIR builder (t: tmp_path, ck: other checkpoint), fragments)
    ("missing run dir", lambda r, t, ck: ["eval", str(t / "nope")], ["RUN_DIR", "not found"]),
    ("not a run dir", lambda r, t, ck: ["eval", str(t)], ["RUN_DIR", "config.yaml"]),
    (
        "checkpoint of another architecture",
        lambda r, t, ck: ["eval", str(r), "--checkpoint", str(ck)],
        ["--checkpoint", "another architecture", "features.0.weight"],
    ),
    (
        "not a checkpoint",
        lambda r, t, ck: ["eval", str(r), "--checkpoint", _file(t)],
        ["--checkpoint", "not a readable checkpoint"],
    ),
    (
        "missing checkpoint",
        lambda r, t, ck: ["eval", str(r), "--checkpoint", str(t / "x.pt")],
        ["--checkpoint", "x.pt", "not found"],
    ),
    (
        "other class names",
        lambda r, t, ck: ["eval", str(r), "data.name=fake", "data.num_samples=40"],
        ["data", "differ from the run's", "class_0"],
    ),
    ("bad override", lambda r, t, ck: ["eval", str(r), "optim.lrr=1"], ["optim.lrr", "did you"]),
    (
        "an image that is not an image",
        lambda r, t, ck: ["predict", str(r), _not_image(t)],
        ["IMAGE_OR_FOLDER", "could be read", "fake.png"],
    ),
    (
        "missing image",
        lambda r, t, ck: ["predict", str(r), str(t / "no.png")],
        ["IMAGE_OR_FOLDER", "no.png", "not found"],
    ),
    (
        "predict into a non-empty folder",
        lambda r, t, ck: ["predict", str(r), str(t / "img.png"), "--out", str(t)],
        ["--out", "not empty"],
    ),
    (
        "predict into an unwritable path",
        lambda r, t, ck: ["predict", str(r), str(t / "img.png"), "--out", f"{_file(t)}/out"],
        ["--out", "cannot write"],
    ),
    (
        "export over an existing file",
        lambda r, t, ck: ["export", str(r), "--format", "torchscript", "--out", _file(t)],
        ["--out", "already exists"],
    ),
    (
        "export into an unwritable path",
        lambda r, t, ck: ["export", str(r), "--format", "torchscript", "--out", f"{_file(t)}/m.pt"],
        ["--out", "cannot create folder"],
    ),
    (
        "top-k below 1",
        lambda r, t, ck: ["predict", str(r), str(t / "img.png"), "--top-k", "0"],
        ["--top-k", ">= 1"],
    ),
]


@pytest.mark.parametrize(("name", "args", "fragments"), BAD, ids=[c[0] for c in BAD])
def test_bad_input_is_one_line_exit_2_nothing_written(
    digits_run, other_arch_checkpoint, tmp_path, capsys, name, args, fragments
):
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(tmp_path / "img.png")
    argv = args(digits_run, tmp_path, other_arch_checkpoint)
    run_before, tmp_before = files_under(digits_run), files_under(tmp_path)
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    for fragment in fragments:
        assert fragment in err, err
    assert files_under(digits_run) == run_before
    assert files_under(tmp_path) == tmp_before


# -- console -----------------------------------------------------------------------------------
def test_summary_screen_key_runs_eval_in_a_thread_and_shows_it(digits_run, monkeypatch):
    import asyncio
    import threading

    from textual.app import App

    import tui_trainer.tui.widgets.eval_panel as eval_panel
    from tui_trainer.runlog.events import RunFinished
    from tui_trainer.tui.app import STYLES
    from tui_trainer.tui.model import RunModel
    from tui_trainer.tui.screens.choices import CommandsDialog
    from tui_trainer.tui.screens.summary import SummaryScreen
    from tui_trainer.tui.widgets.eval_panel import EvalPanel

    summary = json.loads((digits_run / "summary.json").read_text())
    result = RunFinished("completed", summary, "")
    model = RunModel(preset="quickstart", run_dir=str(digits_run))

    import tui_trainer.tui.app as tui_app

    class Host(App[None]):
        CSS_PATH: ClassVar = [Path(tui_app.__file__).parent / style for style in STYLES]

        def on_mount(self) -> None:
            self.push_screen(SummaryScreen(result, model))

    gate = threading.Event()
    real = eval_panel.evaluate_and_write

    def gated(run_dir: str, checkpoint: str):
        assert gate.wait(20)
        return real(run_dir, checkpoint)

    monkeypatch.setattr(eval_panel, "evaluate_and_write", gated)

    async def scenario() -> None:
        before = len(eval_dirs(digits_run))
        async with Host().run_test(headless=True, size=(120, 60)) as pilot:
            await pilot.pause()
            panel = pilot.app.screen.query_one(EvalPanel)
            assert panel.state == "idle"
            await pilot.press("e")
            await pilot.pause(0.1)
            assert panel.state == "running"  # the eval runs in a thread: the UI goes on
            assert "evaluating best.pt" in str(panel.render())
            await pilot.press("y")  # keys are handled meanwhile: the commands dialog opens
            assert isinstance(pilot.app.screen, CommandsDialog)
            await pilot.press("escape")
            gate.set()
            for _ in range(600):
                if panel.state != "running":
                    break
                await pilot.pause(0.05)
            assert panel.state == "done", panel.render()
            text = str(panel.render())
            assert "reproduced exactly" in text and "confusion matrix" in text
            await pilot.press("E")  # shift+e: the last checkpoint
            for _ in range(600):
                if panel.state != "running":
                    break
                await pilot.pause(0.05)
            assert panel.state == "done" and panel.checkpoint == "last"
            assert "last.pt" in str(panel.render())
        assert len(eval_dirs(digits_run)) == before + 2

    asyncio.run(scenario())


def test_predict_on_an_image_folder_run_equals_its_validation_outputs(tmp_path):
    """Image-folder runs: the files of the validation split, predicted, give the validation
    logits exactly (the folder decode is the one validation uses)."""
    rng = np.random.default_rng(0)
    for k, name in enumerate(["cat", "dog"]):
        (tmp_path / "d" / name).mkdir(parents=True)
        for i in range(6):
            pixels = rng.integers(0, 120, (21, 27, 3), dtype=np.uint8)
            pixels[..., 2 * k] += 120  # red cats, blue dogs
            Image.fromarray(pixels).save(tmp_path / "d" / name / f"{i}.png")
    overrides = ["data.name=imagefolder", f"data.root={tmp_path / 'd'}", "data.image_size=16"]
    extra = ["data.batch_size=4", "data.val_split=0.5", "model.kwargs={}", "epochs=1"]
    run_dir = train(tmp_path / "runs", "quickstart", [*QUICK, *overrides, *extra])
    run = open_run(run_dir)
    val = run.data.val  # FolderBatches over the validation split's files, in order
    files = [Path(val.source.images[i]) for i in val.indices.tolist()]
    x = torch.cat([batch for batch, _ in run.data.val.iterate(0)])
    with torch.inference_mode():
        probs = run.model(x).softmax(1)
    out = tmp_path / "pred"
    assert main(["predict", str(run_dir), *map(str, files), "--out", str(out), "--top-k", "1"]) == 0
    with open(out / "predictions.csv") as fh:
        rows = {r["file"]: r for r in csv.DictReader(fh)}
    for file, p in zip(files, probs, strict=True):
        row = rows[str(file)]
        assert row["class"] == run.class_names[int(p.argmax())]
        assert float(row["probability"]) == pytest.approx(float(p.max()), abs=1e-6)
