"""Segmentation end to end: shapes and segfolder data, U-Net and torchvision models, training."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from support.runs import epoch_lines, only_run_dir, run_preset

from tui_trainer.config import load_config
from tui_trainer.config.schema import FreezeConfig, ModelConfig
from tui_trainer.engine.data import build_data
from tui_trainer.engine.data.tensor_loader import BatchTransform
from tui_trainer.engine.freeze import frozen_names
from tui_trainer.engine.models import build_model
from tui_trainer.engine.tasks.segmentation.loader import SegTensorLoader
from tui_trainer.engine.tasks.segmentation.models import UNet
from tui_trainer.engine.tasks.segmentation.shapes import make_shapes
from tui_trainer.errors import UserError
from tui_trainer.runlog.control import Control, StopMode
from tui_trainer.runlog.events import StepProgress
from tui_trainer.session import execute

CPU = torch.device("cpu")
# shapes-unet shrunk: 32x32 images, a narrow U-Net; a few seconds on 2 CPU cores.
SMALL = [
    "device=cpu",
    "epochs=6",
    "data.num_samples=400",
    "data.image_size=32",
    "data.batch_size=16",
    "model.kwargs={width: 8, depth: 2}",
    "progress.interval=0.01",
]


def run(tmp_path, preset, overrides, name="r", sinks=None, control=None, resume=None):
    return run_preset(
        tmp_path / name,
        overrides,
        preset=preset,
        tiny=False,
        sinks=sinks,
        control=control,
        resume=resume,
    )


# -- data --------------------------------------------------------------------------------------
def test_shapes_are_seeded_with_exact_masks():
    x, m = make_shapes(16, 24, multiclass=True, seed=5)
    assert x.shape == (16, 3, 24, 24) and x.dtype == torch.uint8
    assert m.shape == (16, 24, 24) and set(m.unique().tolist()) <= {0, 1, 2, 3}
    x2, m2 = make_shapes(16, 24, multiclass=True, seed=5)
    assert torch.equal(x, x2) and torch.equal(m, m2)
    assert not torch.equal(make_shapes(16, 24, multiclass=True, seed=6)[1], m)
    xb, mb = make_shapes(16, 24, multiclass=False, seed=5)
    assert torch.equal(xb, x) and torch.equal(mb, (m > 0).to(torch.uint8))  # same scenes
    # Every image holds a shape, and the shape pixels differ in colour from the background.
    assert (mb.flatten(1).sum(1) > 0).all()
    fg = mb.bool().unsqueeze(1).expand_as(xb)
    bg_mean = (xb.float() * ~fg).sum((2, 3)) / (~fg).sum((2, 3))
    fg_mean = (xb.float() * fg).sum((2, 3)) / fg.sum((2, 3))
    assert ((fg_mean - bg_mean).abs().max(dim=1).values > 40).all()


def _seg_loader(**kw) -> SegTensorLoader:
    masks = torch.randint(0, 3, (30, 6, 6), generator=torch.Generator().manual_seed(0))
    images = masks.unsqueeze(1).float()  # the image *is* its mask, to see them move together
    transform = BatchTransform((0.0,), (1.0,), 1.0, kw.pop("size", None), 1)
    return SegTensorLoader(images, masks.to(torch.uint8), transform, 4, shuffle=True, seed=1, **kw)


def test_masks_follow_their_images_through_flips_and_crops():
    loader = _seg_loader(hflip=True, crop_padding=2)
    plain = _seg_loader()
    changed = False
    for (x, m), (xp, _) in zip(loader, plain, strict=True):
        assert m.dtype == torch.int64 and m.shape == (x.shape[0], 6, 6)
        assert torch.equal(x[:, 0], m.float())
        changed |= not torch.equal(x, xp)
    assert changed


def test_seg_loader_resumes_with_the_tail_of_the_epoch():
    loader = _seg_loader(hflip=True, crop_padding=1)
    loader.set_epoch(3)
    full = list(loader.iterate(0))
    tail = list(loader.iterate(2))
    assert len(tail) == len(full) - 2
    for (xa, ma), (xb, mb) in zip(full[2:], tail, strict=True):
        assert torch.equal(xa, xb) and torch.equal(ma, mb)


def test_masks_are_resized_with_nearest_neighbour():
    loader = _seg_loader(size=15)
    x, m = next(iter(loader))
    assert x.shape[-2:] == m.shape[-2:] == (15, 15)
    assert set(m.unique().tolist()) <= {0, 1, 2}  # no blended in-between classes
    assert not torch.equal(x[:, 0].round(), x[:, 0])  # the images were interpolated


# -- models ------------------------------------------------------------------------------------
@pytest.mark.parametrize("bilinear", [False, True])
@pytest.mark.parametrize(("classes", "channels"), [(2, 1), (4, 4)])
def test_unet_keeps_the_input_size(bilinear, classes, channels):
    net = UNet(classes, 3, width=4, depth=3, bilinear=bilinear).eval()
    for h, w in [(32, 32), (33, 27)]:
        assert net(torch.randn(2, 3, h, w)).shape == (2, channels, h, w)


def test_unet_freeze_keeps_the_decoder_trainable():
    built = build_model(ModelConfig(name="unet", kwargs={"width": 4, "depth": 2}), 2, 3, 32)
    assert built.head == "decoder"
    frozen = frozen_names(built.model, FreezeConfig(enabled=True), built.head)
    names = [n for n, _ in built.model.named_parameters()]
    assert frozen == [n for n in names if n.startswith("encoder.")] and frozen
    with pytest.raises(UserError, match=r"model\.kwargs"):
        build_model(ModelConfig(name="unet", kwargs={"widht": 4}), 2, 3, 32)


@pytest.mark.parametrize(
    "name", ["lraspp_mobilenet_v3_large", "deeplabv3_mobilenet_v3_large", "fcn_resnet50"]
)
def test_torchvision_segmentation_models(name):
    built = build_model(ModelConfig(name=name), 3, 3, 64)
    model = built.model.eval()
    with torch.inference_mode():
        out = model(torch.randn(1, 3, 64, 64))
    assert isinstance(out, torch.Tensor) and out.shape == (1, 3, 64, 64)
    assert built.head == "model.classifier"
    frozen = set(frozen_names(model, FreezeConfig(enabled=True), built.head))
    for param_name, _ in model.named_parameters():
        assert (param_name in frozen) == param_name.startswith("model.backbone."), param_name
    binary = build_model(ModelConfig(name=name), 2, 3, 64).model.eval()
    with torch.inference_mode():
        assert binary(torch.randn(1, 3, 64, 64)).shape == (1, 1, 64, 64)


def test_torchvision_pretrained_weights_load_and_get_a_new_head(tmp_path):
    """model.weights=DEFAULT from torch's hub cache (here a stand-in file: no network needed)."""
    from torchvision import models

    weights = models.get_model_weights("lraspp_mobilenet_v3_large").DEFAULT
    torch.manual_seed(3)
    reference = models.get_model(
        "lraspp_mobilenet_v3_large", weights=None, weights_backbone=None, num_classes=21
    )
    # TORCH_HOME, not torch.hub.set_dir: set_dir cannot be undone (it pins the hub folder for
    # the rest of the process, past a later test's TORCH_HOME)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TORCH_HOME", str(tmp_path / "home"))
        checkpoints = Path(torch.hub.get_dir()) / "checkpoints"
        checkpoints.mkdir(parents=True)
        torch.save(reference.state_dict(), checkpoints / weights.url.split("/")[-1])
        built = build_model(
            ModelConfig(name="lraspp_mobilenet_v3_large", weights="DEFAULT"), 2, 3, 64
        )
    state = built.model.state_dict()
    for key, value in reference.state_dict().items():
        if "classifier" not in key or "cbr" in key or "scale" in key:
            assert torch.equal(state[f"model.{key}"], value), key
    assert state["model.classifier.high_classifier.weight"].shape[0] == 1  # binary head


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["loss.name=dice"], "loss.name: 'dice' is a segmentation loss"),
        (["model.name=unet"], "model.name: 'unet' is a segmentation model"),
        (["data.name=shapes"], "data.name: 'shapes' is segmentation data"),
    ],
)
def test_classification_rejects_segmentation_parts(overrides, message):
    with pytest.raises(UserError, match=message):
        load_config("quickstart", overrides)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["model.name=resnet18"], "model.name: 'resnet18' is a classification model"),
        (["data.name=digits"], "data.name: 'digits' is classification data"),
        (["data.num_classes=3"], "data.num_classes: shapes has 2 classes"),
        (["data.class_names=[a, b, c]"], "data.class_names: shapes has 2 classes"),
    ],
)
def test_segmentation_rejects_classification_parts(tmp_path, overrides, message):
    with pytest.raises(UserError, match=message):
        config, _ = load_config("shapes-unet", [*SMALL, *overrides])
        build_data(config, CPU)


# -- training ----------------------------------------------------------------------------------
def test_shapes_unet_learns_and_bf16_matches_fp32(tmp_path):
    results = {}
    for precision in ("fp32", "bf16"):
        finished, run_dir = run(
            tmp_path, "shapes-unet", [*SMALL, f"precision={precision}"], name=precision
        )
        assert finished.status == "completed"
        results[precision] = finished.summary["best"]["value"]
    lines = epoch_lines(run_dir)
    assert {"train_loss", "train_dice", "val_loss", "val_dice", "val_iou"} <= set(lines[-1])
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["best"]["metric"] == "val_dice"
    assert results["fp32"] > 0.8, results
    assert abs(results["bf16"] - results["fp32"]) < 0.03, results
    report = finished.report
    assert report.splitlines()[2].startswith("shape ") and "predicted" in report


def test_multiclass_shapes(tmp_path):
    finished, run_dir = run(
        tmp_path,
        "shapes-unet",
        [*SMALL, "epochs=3", "data.num_classes=4", "loss.name=cross_entropy"],
    )
    assert finished.status == "completed"
    dice = [line["val_dice"] for line in epoch_lines(run_dir)]
    assert dice[-1] > max(dice[0], 0.1), dice  # it learns (3 short epochs: far from done)
    names = [line.split()[0] for line in finished.report.splitlines()[1:5]]
    assert names == ["background", "ellipse", "rectangle", "triangle"]


def test_mid_epoch_resume_of_a_segmentation_run(tmp_path):
    hard = [*SMALL, "epochs=2", "data.augment.crop_padding=2", "progress.interval=1e-9"]

    def losses(sink_losses):
        return lambda e: isinstance(e, StepProgress) and sink_losses.update({e.global_step: e.loss})

    whole: dict[int, float] = {}
    run(tmp_path, "shapes-unet", hard, name="a", sinks=[losses(whole)])
    control, first = Control(), {}

    def stop_at_25(event):
        if isinstance(event, StepProgress) and event.global_step == 25:
            control.request_stop(StopMode.STEP, status="interrupted")

    stopped, run_dir = run(
        tmp_path, "shapes-unet", hard, name="b", sinks=[losses(first), stop_at_25], control=control
    )
    assert stopped.status == "interrupted"
    second: dict[int, float] = {}
    config, name = load_config("shapes-unet", [*hard, f"out={tmp_path / 'b'}"])
    resumed = execute(config, name, sinks=[losses(second)], control=Control(), resume=run_dir)
    assert resumed.status == "completed"
    assert {**first, **second} == whole
    a = torch.load(only_run_dir(tmp_path / "a") / "checkpoints" / "last.pt", weights_only=True)
    b = torch.load(run_dir / "checkpoints" / "last.pt", weights_only=True)
    assert all(torch.equal(v, b["model"][k]) for k, v in a["model"].items())


# -- segfolder (a tiny Carvana layout) ---------------------------------------------------------
def make_carvana(root, n=12, size=(40, 30)):
    """root/train/<id>.png (RGB) and root/train_masks/<id>_mask.gif (palette 0/1), like Kaggle's."""
    (root / "train").mkdir(parents=True)
    (root / "train_masks").mkdir()
    rng = np.random.default_rng(0)
    w, h = size
    for i in range(n):
        mask = np.zeros((h, w), dtype=np.uint8)
        x0, y0 = rng.integers(2, w // 2), rng.integers(2, h // 2)
        mask[y0 : y0 + h // 2, x0 : x0 + w // 2] = 1
        image = rng.integers(0, 60, (h, w, 3), dtype=np.uint8)
        image[mask == 1] = (200, 40, 40)
        Image.fromarray(image).save(root / "train" / f"car{i:02d}.png")
        gif = Image.fromarray(mask, mode="P")
        gif.putpalette([0, 0, 0, 255, 255, 255] + [0] * 762)
        gif.save(root / "train_masks" / f"car{i:02d}_mask.gif")


CARVANA = [
    "device=cpu",
    "epochs=2",
    "data.image_size=32",
    "data.batch_size=4",
    "data.num_workers=0",
    "model.kwargs={width: 4, depth: 2}",
]


def test_segfolder_trains_on_a_carvana_layout(tmp_path):
    make_carvana(tmp_path / "carvana")
    overrides = [*CARVANA, f"data.root={tmp_path / 'carvana'}", "data.augment.crop_padding=2"]
    config, _ = load_config("carvana-unet", overrides)
    data = build_data(config, CPU)
    assert (data.train_samples, data.val_samples) == (8, 4)  # the tutorial's 70/30 split
    assert data.class_names == ["background", "car"]
    x, m = next(iter(data.val))
    assert x.shape == (4, 3, 32, 32) and m.shape == (4, 32, 32) and m.dtype == torch.int64
    assert set(m.unique().tolist()) == {0, 1}
    fraction = float(m.float().mean())
    assert 0.15 < fraction < 0.35  # a quarter of each image is car, after resizing
    train = data.make_train(4)
    train.set_epoch(1)
    full = list(train.iterate(0))
    tail = list(train.iterate(1))
    assert all(torch.equal(a[1], b[1]) for a, b in zip(full[1:], tail, strict=True))

    finished, run_dir = run(tmp_path, "carvana-unet", overrides)
    assert finished.status == "completed", finished.error
    assert "val_dice" in epoch_lines(run_dir)[-1]
    assert "car" in finished.report
    notes = json.loads((run_dir / "summary.json").read_text()).get("notes", [])
    assert any("fp16" in note for note in notes)  # fp16 fell back to fp32 on the CPU


def test_segfolder_bad_input_is_reported_before_anything_runs(tmp_path):
    root = tmp_path / "carvana"
    make_carvana(root, n=4)
    base = [*CARVANA, f"data.root={root}", f"out={tmp_path / 'runs'}"]
    cases = [
        ([f"data.root={tmp_path / 'nowhere'}"], "data.root: folder .* not found .*train.zip"),
        (["data.masks_dir=masks"], "data.masks_dir: folder"),
        (["data.mask_pattern={stem}.gif"], "data.mask_pattern: 4 of 4 images have no mask"),
        (["data.mask_values=[0, 2]"], r"data.mask_values: .*mask values \[1\]"),
    ]
    for overrides, message in cases:
        config, name = load_config("carvana-unet", [*base, *overrides])
        with pytest.raises(UserError, match=message):
            execute(config, name, sinks=[], control=Control())
    assert not (tmp_path / "runs").exists()


def test_segfolder_multiclass_mask_values(tmp_path):
    root = tmp_path / "data"
    make_carvana(root, n=4)
    for path in (root / "train_masks").iterdir():  # 0/1 palette → 0/255 grayscale PNG
        values = np.array(Image.open(path)) * 255
        Image.fromarray(values.astype(np.uint8), mode="L").save(path.with_suffix(".png"))
    overrides = [
        *CARVANA,
        f"data.root={root}",
        "data.mask_pattern={stem}_mask.png",
        "data.mask_values=[0, 255]",
        "data.class_names=[road, car]",
    ]
    config, _ = load_config("carvana-unet", overrides)
    data = build_data(config, CPU)
    assert data.num_classes == 2 and data.class_names == ["road", "car"]
    _, m = next(iter(data.val))
    assert set(m.unique().tolist()) == {0, 1}


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_fp16_reaches_the_fp32_dice(tmp_path):
    """The tutorial's fp16 run stayed at Dice 0; with autocast + GradScaler it matches fp32."""
    results = {}
    for precision in ("fp32", "fp16"):
        finished, _ = run(
            tmp_path,
            "shapes-unet",
            [*SMALL, "device=cuda", f"precision={precision}"],
            name=precision,
        )
        assert finished.status == "completed", finished.error
        assert finished.summary["precision"] == precision
        results[precision] = finished.summary["best"]["value"]
    assert results["fp32"] > 0.8, results
    assert abs(results["fp16"] - results["fp32"]) < 0.03, results
