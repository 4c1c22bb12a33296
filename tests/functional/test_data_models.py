"""Data sources and models: batching without per-sample work, image folders, heads, weights."""

from __future__ import annotations

import json

import pytest
import torch
from PIL import Image
from support.runs import TINY, only_run_dir

from tui_trainer.config import load_config
from tui_trainer.config.schema import ModelConfig
from tui_trainer.engine.data import build_data
from tui_trainer.engine.data.tensor_loader import BatchTransform, TensorLoader
from tui_trainer.engine.model_parts import count_params
from tui_trainer.engine.models import build_model
from tui_trainer.errors import UserError
from tui_trainer.runlog.control import Control
from tui_trainer.session import execute


def _loader(**kw) -> TensorLoader:
    x = torch.arange(50 * 2 * 4 * 4, dtype=torch.float32).reshape(50, 2, 4, 4)
    y = torch.arange(50)
    transform = BatchTransform((0.0,), (1.0,), 1.0, None, 2)
    return TensorLoader(x, y, transform, 7, shuffle=True, seed=3, **kw)


def test_tensor_loader_covers_the_epoch_and_drops_a_lone_last_sample():
    loader = _loader()
    assert loader.batch_sizes() == [7] * 7  # 50 = 7*7 + 1: the lone sample is dropped
    seen = torch.cat([y for _, y in loader])
    assert len(seen) == 49 and len(set(seen.tolist())) == 49
    loader.set_epoch(1)
    assert not torch.equal(torch.cat([y for _, y in loader]), seen)  # reshuffled per epoch


@pytest.mark.parametrize("aug", [{}, {"hflip": True, "crop_padding": 1}])
def test_iteration_from_the_middle_matches_the_uninterrupted_epoch(aug):
    loader = _loader(**aug)
    loader.set_epoch(2)
    full = list(loader.iterate(0))
    tail = list(loader.iterate(3))
    assert len(tail) == len(full) - 3
    for (xa, ya), (xb, yb) in zip(full[3:], tail, strict=True):
        assert torch.equal(ya, yb) and torch.equal(xa, xb)


def test_augmentation_changes_images_but_not_labels():
    plain, aug = _loader(), _loader(hflip=True, crop_padding=1)
    (xp, yp), (xa, ya) = next(iter(plain)), next(iter(aug))
    assert torch.equal(yp, ya) and xp.shape == xa.shape and not torch.equal(xp, xa)


def test_digits_split_is_stratified_and_seeded(tiny_config):
    data = build_data(tiny_config, torch.device("cpu"))
    assert (data.train_samples, data.val_samples) == (1437, 360)
    assert data.class_names == [str(i) for i in range(10)]
    counts = torch.bincount(torch.cat([y for _, y in data.val]), minlength=10)
    assert counts.min() >= 35  # every class in validation


def test_grayscale_is_repeated_for_rgb_models_and_resized(tiny_config):
    config = tiny_config.model_copy(
        update={"data": tiny_config.data.model_copy(update={"image_size": 16})}
    )
    data = build_data(config, torch.device("cpu"), model_channels=3)
    x, _ = next(iter(data.make_train(8)))
    assert x.shape == (8, 3, 16, 16)


def _image_folder(root, classes=("cat", "dog"), per_class=12, size=20):
    for k, cls in enumerate(classes):
        (root / cls).mkdir(parents=True)
        for i in range(per_class):
            color = (200, 30, 30) if k == 0 else (30, 30, 200)
            img = Image.new("RGB", (size + i % 3, size), color)
            img.save(root / cls / f"{i}.png")


def test_imagefolder_trains_on_your_own_images(tmp_path):
    _image_folder(tmp_path / "imgs")
    config, name = load_config(
        "quickstart",
        [
            *TINY,
            "data.name=imagefolder",
            f"data.root={tmp_path / 'imgs'}",
            "data.image_size=16",
            "data.batch_size=4",
            "data.val_split=0.25",
            "model.kwargs={}",
            "epochs=3",
            "data.augment.hflip=true",
            f"out={tmp_path / 'runs'}",
        ],
    )
    finished = execute(config, name, sinks=[], control=Control())
    assert finished.status == "completed"
    assert finished.summary["final"]["val_accuracy"] == 1.0  # red vs blue is learnable
    assert "cat" in finished.report and "dog" in finished.report


def test_imagefolder_with_train_and_val_folders(tmp_path):
    _image_folder(tmp_path / "d" / "train")
    _image_folder(tmp_path / "d" / "val", per_class=3)
    config, _ = load_config(
        "quickstart",
        [*TINY, "data.name=imagefolder", f"data.root={tmp_path / 'd'}", "data.image_size=16"],
    )
    data = build_data(config, torch.device("cpu"))
    assert (data.train_samples, data.val_samples, data.class_names) == (24, 6, ["cat", "dog"])


def test_imagefolder_errors(tmp_path):
    (tmp_path / "empty" / "only").mkdir(parents=True)
    config, _ = load_config(
        "quickstart", [*TINY, "data.name=imagefolder", f"data.root={tmp_path / 'empty'}"]
    )
    with pytest.raises(UserError, match=r"data\.root"):
        build_data(config, torch.device("cpu"))


def test_fake_data_is_seeded():
    config, _ = load_config("fake-benchmark", ["data.num_samples=64", "data.image_size=8"])
    a = next(iter(build_data(config, torch.device("cpu")).val))
    b = next(iter(build_data(config, torch.device("cpu")).val))
    assert torch.equal(a[0], b[0]) and a[0].shape[1:] == (3, 8, 8)


# -- models ------------------------------------------------------------------------------------
@pytest.mark.parametrize("size", [8, 32])
def test_small_cnn_is_sized_from_the_input(size):
    built = build_model(ModelConfig(), 10, 3, size)
    assert built.model(torch.zeros(2, 3, size, size)).shape == (2, 10)
    assert built.head == "fc"


def test_torchvision_model_head_is_replaced():
    built = build_model(ModelConfig(name="resnet18"), 4, 3, 32)
    assert built.head == "fc" and built.model.fc.out_features == 4
    assert built.model(torch.zeros(2, 3, 32, 32)).shape == (2, 4)


def test_fine_tune_from_our_own_checkpoint_with_other_classes(tmp_path):
    first = build_model(ModelConfig(), 10, 1, 8)
    torch.save({"model": first.model.state_dict()}, tmp_path / "ckpt.pt")
    tuned = build_model(ModelConfig(weights=str(tmp_path / "ckpt.pt")), 3, 1, 8)
    assert torch.equal(
        tuned.model.features[0].weight, first.model.features[0].weight
    )  # backbone loaded
    assert tuned.model.fc.out_features == 3
    assert any("re-initialised" in n for n in tuned.notes)


def test_weights_of_another_architecture_are_refused(tmp_path):
    other = build_model(ModelConfig(name="resnet18"), 10, 3, 32)
    torch.save(other.model.state_dict(), tmp_path / "r18.pt")
    with pytest.raises(UserError, match=r"model.weights: .*does not fit this model: unexpected"):
        build_model(ModelConfig(weights=str(tmp_path / "r18.pt")), 10, 1, 8)


def test_torchvision_weights_offline_say_where_to_put_them(monkeypatch):
    from torchvision.models import ResNet18_Weights

    def offline(self, *a, **k):
        raise OSError("network is unreachable")

    monkeypatch.setattr(ResNet18_Weights.IMAGENET1K_V1.__class__, "get_state_dict", offline)
    with pytest.raises(UserError, match=r"model.weights: .*resnet18-.*\.pth in .*checkpoints"):
        build_model(ModelConfig(name="resnet18", weights="DEFAULT"), 10, 3, 32)


def test_users_own_model_class(tmp_path):
    built = build_model(ModelConfig(name="support.tinymodels:TinyBN"), 5, 1, 8)
    assert built.head == "head" and built.model.head.out_features == 5
    trainable, total = count_params(built.model)
    assert trainable == total > 0


def test_user_model_runs_end_to_end(tmp_path):
    config, name = load_config(
        "quickstart",
        [*TINY, "model.name=support.tinymodels:TinyBN", "model.kwargs={}", f"out={tmp_path}"],
    )
    finished = execute(config, name, sinks=[], control=Control())
    summary = json.loads((only_run_dir(tmp_path) / "summary.json").read_text())
    assert finished.status == summary["status"] == "completed"
