"""Detection models: every name builds and follows torchvision's detection contract; weights
from files and the torch hub cache (never downloaded); class layers re-made for another count."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn
from torchvision.ops.misc import FrozenBatchNorm2d

from tui_trainer.config.schema import ModelConfig
from tui_trainer.engine.model_parts import BuiltModel
from tui_trainer.engine.tasks.detection.detector_weights import cached_file
from tui_trainer.engine.tasks.detection.models import (
    DETECTION_MODELS,
    FAMILIES,
    MIN_IMAGE_SIZE,
    build_detection_model,
)
from tui_trainer.errors import UserError

# Faster R-CNN's box head on the default 2000/1000 proposals dominates a CPU step: keep it small.
FEW_PROPOSALS = {
    "rpn_pre_nms_top_n_train": 50,
    "rpn_post_nms_top_n_train": 20,
    "rpn_pre_nms_top_n_test": 50,
    "rpn_post_nms_top_n_test": 20,
    "box_batch_size_per_image": 16,
}
NAME = "fasterrcnn_mobilenet_v3_large_320_fpn"
FAST = {"fcos_tiny", "fasterrcnn_mobilenet_v3_large_320_fpn", "ssdlite320_mobilenet_v3_large"}


def build(name: str, classes: int = 4, size: int = 64, **fields: Any) -> BuiltModel:
    """`name` built through the config model, as the task does."""
    kwargs = dict(FEW_PROPOSALS) if name.startswith("fasterrcnn") else {}
    kwargs.update(fields.pop("kwargs", {}))
    return build_detection_model(ModelConfig(name=name, kwargs=kwargs, **fields), classes, size)


def targets(size: int) -> list[dict[str, torch.Tensor]]:
    """One image with two boxes (labels 1-based: the model's view) and one background image."""
    boxes = torch.tensor([[4.0, 4.0, size / 2, size / 2], [size / 3, size / 4, size - 2, size - 3]])
    return [
        {"boxes": boxes, "labels": torch.tensor([1, 3])},
        {"boxes": torch.zeros(0, 4), "labels": torch.zeros(0, dtype=torch.int64)},
    ]


def check_contract(model: nn.Module, size: int) -> None:
    """Train mode: a dict of finite scalar losses that backpropagate; eval: boxes/scores/labels."""
    torch.manual_seed(0)
    images = [torch.rand(3, size, size) for _ in range(2)]
    model.train()
    losses = model(images, targets(size))
    assert isinstance(losses, dict) and losses
    total = sum(losses.values())
    assert torch.isfinite(total)
    total.backward()
    # every trainable parameter is used: DistributedDataParallel refuses unused ones
    unused = [n for n, p in model.named_parameters() if p.requires_grad and p.grad is None]
    assert unused == []
    model.eval()
    with torch.no_grad():
        out = model(images)
    assert len(out) == 2
    for det in out:
        assert set(det) >= {"boxes", "scores", "labels"}
        assert det["boxes"].shape[1:] == (4,)
        assert len(det["boxes"]) == len(det["scores"]) == len(det["labels"])


@pytest.mark.parametrize(
    "name",
    [n if n in FAST else pytest.param(n, marks=pytest.mark.slow) for n in DETECTION_MODELS],
)
def test_every_name_builds_and_follows_the_contract(name: str) -> None:
    size = max(64, MIN_IMAGE_SIZE.get(name, 0))
    built = build(name, size=size)
    assert built.backbone in {"backbone.body", "backbone.features"}
    assert built.model.get_submodule(built.backbone) is not None
    assert built.head in {"head", "roi_heads"}
    assert built.model.get_submodule(built.head) is not None
    transform: Any = built.model.transform  # not resized again: the letterboxed size is kept
    assert transform.min_size == (size,) and transform.max_size == size
    check_contract(built.model, size)


def test_every_configured_name_has_a_builder() -> None:
    """The config's list (what `check` accepts) and the builders' table are the same names."""
    assert set(DETECTION_MODELS) == set(FAMILIES)


def test_model_kwargs_pass_through_and_bad_ones_are_one_line() -> None:
    model: Any = build("fcos_tiny", kwargs={"detections_per_img": 7, "score_thresh": 0.0}).model
    model.eval()
    with torch.no_grad():
        assert len(model([torch.rand(3, 64, 64)])[0]["boxes"]) <= 7
    # torchvision's detectors swallow unknown kwargs: a typo must not pass silently
    with pytest.raises(UserError, match="did you mean 'score_thresh'") as err:
        build("fcos_tiny", kwargs={"score_tresh": 0.5})
    assert err.value.key == "model.kwargs" and "\n" not in str(err.value)
    with pytest.raises(UserError, match="box_score_thresh"):
        build(NAME, kwargs={"box_score_tresh": 0.5})
    build(NAME, kwargs={"box_score_thresh": 0.5, "size_divisible": 1})
    with pytest.raises(UserError, match=r"data\.image_size \(64\)"):
        build("fcos_tiny", kwargs={"min_size": 800})
    with pytest.raises(UserError, match=r"model\.weights"):
        build("fcos_tiny", kwargs={"weights": "x.pt"})
    with pytest.raises(UserError) as err:
        build("fcos_tiny", kwargs={"width": -1})  # accepted name, bad value: construct's line
    assert "fcos_tiny cannot be built" in str(err.value)


def test_unknown_name_and_too_small_ssd_refused() -> None:
    with pytest.raises(UserError, match="not a detection model"):
        build("resnet18")
    with pytest.raises(UserError, match="at least 268") as err:
        build("ssd300_vgg16", size=64)
    assert err.value.key == "data.image_size"


def test_weights_file_round_trips(tmp_path: Path) -> None:
    first = build("fcos_tiny").model
    path = tmp_path / "w.pt"
    torch.save({"model": first.state_dict(), "epoch": 3}, path)  # a tui-trainer checkpoint
    second = build("fcos_tiny", weights=str(path))
    assert "loaded weights from" in second.notes[0]
    for (key, a), b in zip(
        first.state_dict().items(), second.model.state_dict().values(), strict=True
    ):
        assert torch.equal(a, b), key


def test_weights_file_of_another_class_count_remakes_the_class_layer(tmp_path: Path) -> None:
    path = tmp_path / "w.pt"
    coco = build("fcos_tiny", classes=91).model
    torch.save(coco.state_dict(), path)
    built = build("fcos_tiny", classes=4, weights=str(path))
    model: Any = built.model
    assert model.head.classification_head.cls_logits.out_channels == 4
    assert any("cls_logits made anew" in note for note in built.notes)
    own, theirs = model.state_dict(), coco.state_dict()
    assert torch.equal(
        own["backbone.body.stages.0.0.0.weight"], theirs["backbone.body.stages.0.0.0.weight"]
    )
    check_contract(model, 64)


@pytest.mark.parametrize(
    ("name", "layer"),
    [
        ("ssdlite320_mobilenet_v3_large", "head.classification_head.module_list.0.1"),
        pytest.param(
            "ssd300_vgg16", "head.classification_head.module_list.0", marks=pytest.mark.slow
        ),
        pytest.param(
            "retinanet_resnet50_fpn", "head.classification_head.cls_logits", marks=pytest.mark.slow
        ),
    ],
)
def test_class_layers_remade_for_each_head_kind(name: str, layer: str) -> None:
    """SSD's per-level class convs and RetinaNet's cls_logits take the new count of columns."""
    from tui_trainer.engine.tasks.detection.detector_weights import remake_class_layers

    size = max(64, MIN_IMAGE_SIZE.get(name, 0))
    model: Any = build(name, classes=91, size=size).model
    before = model.get_submodule(layer).out_channels
    kind = "ssd" if name.startswith("ssd") else "retinanet"
    assert remake_class_layers(model, kind, 4) == [layer.rsplit(".module_list", 1)[0]]
    assert model.get_submodule(layer).out_channels * 91 == before * 4
    model.eval()
    with torch.no_grad():
        labels = model([torch.rand(3, size, size)])[0]["labels"]
    assert labels.numel() == 0 or int(labels.max()) < 4


def test_weights_file_saved_with_frozen_batchnorm_keeps_it_frozen(tmp_path: Path) -> None:
    """torchvision's COCO files come from FrozenBatchNorm2d backbones (no num_batches_tracked):
    such a file loads, and those layers are frozen here as well, not trained at batch 2."""
    from tui_trainer.engine.tasks.detection.detector_weights import freeze_all_batchnorm

    donor: Any = build("fcos_tiny").model
    frozen = freeze_all_batchnorm(donor.backbone.body)
    assert frozen == sum(isinstance(m, FrozenBatchNorm2d) for m in donor.modules()) > 0
    path = tmp_path / "frozen.pt"
    torch.save(donor.state_dict(), path)
    built = build("fcos_tiny", weights=str(path))
    model: Any = built.model
    assert isinstance(model.backbone.body.stages[0][0][1], FrozenBatchNorm2d)
    assert f"{frozen} BatchNorm layers frozen, as the file saved them" in built.notes
    key = "backbone.body.stages.1.0.1.running_var"
    assert torch.equal(model.state_dict()[key], donor.state_dict()[key])


def test_weights_file_of_another_network_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "w.pt"
    torch.save(build("fcos_tiny", kwargs={"width": 8}).model.state_dict(), path)
    with pytest.raises(UserError, match="does not fit") as err:
        build("fcos_tiny", weights=str(path))
    assert err.value.key == "model.weights" and "\n" not in str(err.value)


def save_cached(weights: Any, state: dict[str, torch.Tensor]) -> Path:
    """Put `state` where the torch hub cache keeps `weights`' file (TORCH_HOME is temporary)."""
    path = cached_file(weights)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(state, path)
    return path


@pytest.fixture
def torch_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty torch hub cache; downloading would fail loudly."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    # a torch.hub.set_dir anywhere earlier in the process would pin the folder past TORCH_HOME
    monkeypatch.setattr(torch.hub, "_hub_dir", None)

    def no_download(*args: object, **kwargs: object) -> None:
        raise AssertionError("tried to download")

    monkeypatch.setattr(torch.hub, "download_url_to_file", no_download)
    return tmp_path / "torch"


def test_hub_weights_absent_are_refused_with_where_to_put_them(torch_home: Path) -> None:
    from torchvision.models.detection import FasterRCNN_MobileNet_V3_Large_320_FPN_Weights as W

    with pytest.raises(UserError) as err:
        build(NAME, weights="DEFAULT")
    text = str(err.value)
    assert err.value.key == "model.weights" and "\n" not in text
    assert cached_file(W.DEFAULT).name in text and str(torch_home / "hub" / "checkpoints") in text
    with pytest.raises(UserError, match=r"model\.backbone_weights") as err:
        build(NAME, backbone_weights="MobileNet_V3_Large_Weights.IMAGENET1K_V1")
    assert "mobilenet_v3_large" in str(err.value)


def test_fcos_tiny_refuses_weights_names() -> None:
    """It has no torchvision weights: a name is refused, never silently ignored."""
    for field in ("weights", "backbone_weights"):
        with pytest.raises(UserError, match="fcos_tiny has no weights named 'DEFAULT'") as err:
            build("fcos_tiny", **{field: "DEFAULT"})
        assert err.value.key == f"model.{field}"


def test_misnamed_weights_list_the_accepted_names() -> None:
    with pytest.raises(UserError, match=r"COCO_V1.*backbone_weights"):
        build(NAME, weights="ResNet50_Weights.IMAGENET1K_V1")


def test_hub_weights_load_from_the_cache_and_remake_class_layers(torch_home: Path) -> None:
    from torchvision.models.detection import FasterRCNN_MobileNet_V3_Large_320_FPN_Weights as W

    coco = build(NAME, classes=91).model.state_dict()
    save_cached(W.COCO_V1, coco)
    built = build(NAME, classes=4, weights="FasterRCNN_MobileNet_V3_Large_320_FPN_Weights.COCO_V1")
    model: Any = built.model
    assert model.roi_heads.box_predictor.cls_score.out_features == 4
    assert any(
        "box_predictor made anew for 4 classes (the weights have 91)" in n for n in built.notes
    )
    key = "backbone.body.0.0.weight"
    assert torch.equal(model.state_dict()[key], coco[key])
    assert isinstance(model.backbone.body.get_submodule("0.1"), FrozenBatchNorm2d)  # as torchvision


def test_backbone_weights_by_name_from_the_cache(torch_home: Path) -> None:
    from torchvision.models import MobileNet_V3_Large_Weights, mobilenet_v3_large

    classifier = mobilenet_v3_large().state_dict()
    save_cached(MobileNet_V3_Large_Weights.IMAGENET1K_V1, classifier)
    built = build(NAME, backbone_weights="MobileNet_V3_Large_Weights.IMAGENET1K_V1")
    own = built.model.state_dict()
    assert torch.equal(own["backbone.body.0.0.weight"], classifier["features.0.0.weight"])
    assert any("backbone weights" in note for note in built.notes)


def test_backbone_weights_file_fills_the_body_only(tmp_path: Path) -> None:
    donor = build("fcos_tiny").model
    path = tmp_path / "body.pt"
    torch.save(donor.get_submodule("backbone.body").state_dict(), path)
    built = build("fcos_tiny", backbone_weights=str(path))
    own, theirs = built.model.state_dict(), donor.state_dict()
    assert torch.equal(
        own["backbone.body.stages.3.1.0.weight"], theirs["backbone.body.stages.3.1.0.weight"]
    )
    assert not torch.equal(
        own["backbone.fpn.inner_blocks.0.0.weight"], theirs["backbone.fpn.inner_blocks.0.0.weight"]
    )
    assert any("backbone weights from" in note for note in built.notes)
    bad = tmp_path / "bad.pt"
    torch.save({"x.weight": torch.zeros(1)}, bad)
    with pytest.raises(UserError, match=r"no key of backbone\.body") as err:
        build("fcos_tiny", backbone_weights=str(bad))
    assert err.value.key == "model.backbone_weights"


def test_classifier_file_as_backbone_weights(tmp_path: Path) -> None:
    """A torchvision classifier's own state dict (its classifier layers included) loads into
    `backbone.body`, whose BatchNorm is then frozen, as torchvision builds a pretrained one."""
    from torchvision.models import mobilenet_v3_large

    classifier = mobilenet_v3_large().state_dict()
    path = tmp_path / "mobilenet.pt"
    torch.save(classifier, path)
    built = build(NAME, backbone_weights=str(path))
    model: Any = built.model
    assert torch.equal(
        model.state_dict()["backbone.body.16.0.weight"], classifier["features.16.0.weight"]
    )
    assert isinstance(model.backbone.body.get_submodule("0.1"), FrozenBatchNorm2d)
    assert any("frozen, as torchvision does" in note for note in built.notes)
    check_contract(model, 64)


def test_user_detector_gets_num_classes_and_image_size() -> None:
    built = build_detection_model(
        ModelConfig(name="support.tinydetectors:TinyDetector"), num_classes=5, image_size=48
    )
    model: Any = built.model
    assert (model.num_classes, model.image_size) == (5, 48)
    assert built.backbone == "backbone.body" and built.head == "head"


def test_freeze_enabled_freezes_the_feature_extractor_only() -> None:
    """As the YOLO tutorial freezes its backbone: the FPN (neck) and the head keep training."""
    from tui_trainer.config.schema import FreezeConfig
    from tui_trainer.engine.freeze import frozen_names

    built = build("fcos_tiny")
    names = frozen_names(built.model, FreezeConfig(enabled=True), built.head, built.backbone)
    every = [n for n, _ in built.model.named_parameters()]
    assert names == [n for n in every if n.startswith("backbone.body.")]
    assert any(n.startswith("backbone.fpn.") for n in every)
