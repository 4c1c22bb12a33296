"""Segmentation losses, metrics and the mask preview against hand-computed values."""

from __future__ import annotations

import math

import pytest
import torch

from tui_trainer.config.schema import LossConfig
from tui_trainer.engine.tasks.segmentation.losses import (
    SegmentationLoss,
    cross_entropy_loss,
    dice_loss,
    focal_loss,
    iou_loss,
)
from tui_trainer.engine.tasks.segmentation.metrics import (
    SegmentationEvaluator,
    batch_dice,
    class_counts,
    dice_from_counts,
    iou_from_counts,
)
from tui_trainer.engine.tasks.segmentation.preview import render_mask, render_mask_pair

P = torch.tensor([0.8, 0.6, 0.3, 0.1])  # sigmoid probabilities of four pixels


def binary_logits(probs: torch.Tensor = P) -> torch.Tensor:
    """(1, 1, 2, 2) logits whose sigmoids are `probs`."""
    return torch.logit(probs).view(1, 1, 2, 2)


def mask(values: list[int]) -> torch.Tensor:
    return torch.tensor(values).view(1, 2, 2)


HALF = mask([1, 1, 0, 0])
EMPTY = mask([0, 0, 0, 0])
FULL = mask([1, 1, 1, 1])


# -- binary losses (1 channel, sigmoid) --------------------------------------------------------
@pytest.mark.parametrize(
    ("target", "expected"),
    [
        (HALF, 1 - (2 * 1.4 + 1) / (1.8 + 2 + 1)),  # Σpt = 0.8 + 0.6, Σp = 1.8, Σt = 2
        (EMPTY, 1 - 1 / (1.8 + 1)),  # no foreground: only the smoothing term agrees
        (FULL, 1 - (2 * 1.8 + 1) / (1.8 + 4 + 1)),
    ],
    ids=["half", "empty", "full"],
)
def test_binary_dice_loss(target, expected):
    assert float(dice_loss(binary_logits(), target, smooth=1.0)) == pytest.approx(expected)


def test_dice_loss_without_smoothing_is_one_minus_the_dice_coefficient():
    assert float(dice_loss(binary_logits(), HALF, smooth=0.0)) == pytest.approx(1 - 2.8 / 3.8)


def test_empty_mask_and_empty_prediction_cost_nothing():
    nothing = binary_logits(torch.full((4,), 1e-6))
    assert float(dice_loss(nothing, EMPTY)) == pytest.approx(0.0, abs=1e-5)
    assert float(iou_loss(nothing, EMPTY)) == pytest.approx(0.0, abs=1e-5)
    everything = binary_logits(torch.full((4,), 1 - 1e-6))
    assert float(dice_loss(everything, FULL)) == pytest.approx(0.0, abs=1e-5)
    # smooth = 0 stays finite on empty masks (the denominator is clamped)
    assert math.isfinite(float(dice_loss(nothing, EMPTY, smooth=0.0)))


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        (HALF, 1 - (1.4 + 1) / (1.8 + 2 - 1.4 + 1)),
        (EMPTY, 1 - 1 / (1.8 + 1)),
        (FULL, 1 - (1.8 + 1) / (4 + 1)),
    ],
    ids=["half", "empty", "full"],
)
def test_binary_iou_loss(target, expected):
    assert float(iou_loss(binary_logits(), target, smooth=1.0)) == pytest.approx(expected)


def test_binary_cross_entropy():
    expected = -(math.log(0.8) + math.log(0.6) + math.log(0.7) + math.log(0.9)) / 4
    assert float(cross_entropy_loss(binary_logits(), HALF)) == pytest.approx(expected, rel=1e-5)
    empty = -(math.log(0.2) + math.log(0.4) + math.log(0.7) + math.log(0.9)) / 4
    assert float(cross_entropy_loss(binary_logits(), EMPTY)) == pytest.approx(empty, rel=1e-5)
    smoothed = float(cross_entropy_loss(binary_logits(), HALF, label_smoothing=0.2))
    bce = torch.nn.BCEWithLogitsLoss()
    t = torch.tensor([0.9, 0.9, 0.1, 0.1]).view(1, 1, 2, 2)
    assert smoothed == pytest.approx(float(bce(binary_logits(), t)))


def test_binary_focal_loss():
    # -α_t (1 - p_t)^2 log p_t with α = 0.25 on foreground, 0.75 on background
    terms = [
        0.25 * 0.2**2 * -math.log(0.8),
        0.25 * 0.4**2 * -math.log(0.6),
        0.75 * 0.3**2 * -math.log(0.7),
        0.75 * 0.1**2 * -math.log(0.9),
    ]
    got = float(focal_loss(binary_logits(), HALF, gamma=2.0, alpha=0.25))
    assert got == pytest.approx(sum(terms) / 4, rel=1e-5)
    unweighted = float(focal_loss(binary_logits(), HALF, gamma=0.0, alpha=None))
    assert unweighted == pytest.approx(float(cross_entropy_loss(binary_logits(), HALF)))


def test_bce_dice_weights_its_terms():
    cfg = LossConfig(name="bce_dice", bce_weight=0.3, smooth=1.0)
    got = float(SegmentationLoss(cfg)(binary_logits(), HALF))
    bce = float(cross_entropy_loss(binary_logits(), HALF))
    assert got == pytest.approx(0.3 * bce + 0.7 * (1 - 3.8 / 4.8), rel=1e-6)


# -- multi-class losses (C channels, softmax) --------------------------------------------------
PROBS3 = torch.tensor([[0.7, 0.1], [0.2, 0.3], [0.1, 0.6]])  # (3 classes, 2 pixels)
LOGITS3 = PROBS3.log().view(1, 3, 1, 2)
TARGET3 = torch.tensor([0, 2]).view(1, 1, 2)


def test_multiclass_cross_entropy_and_focal():
    ce = (-math.log(0.7) - math.log(0.6)) / 2
    assert float(cross_entropy_loss(LOGITS3, TARGET3)) == pytest.approx(ce, rel=1e-5)
    focal = (0.3**2 * -math.log(0.7) + 0.4**2 * -math.log(0.6)) / 2
    assert float(focal_loss(LOGITS3, TARGET3, gamma=2.0)) == pytest.approx(focal, rel=1e-5)


def test_multiclass_dice_and_iou_average_every_class():
    # class 0: Σpt 0.7, Σp 0.8, Σt 1; class 1 (absent): Σp 0.5; class 2: Σpt 0.6, Σp 0.7, Σt 1
    dice = [(1.4 + 1) / (1.8 + 1), 1 / (0.5 + 1), (1.2 + 1) / (1.7 + 1)]
    assert float(dice_loss(LOGITS3, TARGET3)) == pytest.approx(1 - sum(dice) / 3, rel=1e-5)
    iou = [(0.7 + 1) / (1.1 + 1), 1 / (0.5 + 1), (0.6 + 1) / (1.1 + 1)]
    assert float(iou_loss(LOGITS3, TARGET3)) == pytest.approx(1 - sum(iou) / 3, rel=1e-5)


@pytest.mark.parametrize("name", ["cross_entropy", "bce", "dice", "bce_dice", "iou", "focal"])
@pytest.mark.parametrize("channels", [1, 4])
def test_every_loss_trains_both_layouts_in_float32_under_autocast(name, channels):
    torch.manual_seed(0)
    logits = torch.randn(2, channels, 5, 5, requires_grad=True)
    targets = torch.randint(0, max(channels, 2), (2, 5, 5))
    loss_fn = SegmentationLoss(LossConfig(name=name))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        loss = loss_fn(logits.to(torch.bfloat16), targets)
    assert loss.dtype == torch.float32 and loss.dim() == 0 and torch.isfinite(loss)
    loss.backward()
    assert logits.grad is not None and torch.isfinite(logits.grad).all()


# -- metrics -----------------------------------------------------------------------------------
def test_counts_dice_and_iou_by_hand():
    preds = torch.tensor([[[1, 1], [0, 0]]])
    true = torch.tensor([[[1, 0], [0, 0]]])
    counts = class_counts(preds, true, 2)
    assert counts.tolist() == [[2, 1], [2, 2], [3, 1]]  # intersection, predicted, true
    assert dice_from_counts(counts).tolist() == pytest.approx([4 / 5, 2 / 3])
    assert iou_from_counts(counts).tolist() == pytest.approx([2 / 3, 1 / 2])


@pytest.mark.parametrize(
    ("pred", "true", "dice", "iou"),
    [
        ([0, 0, 0, 0], [0, 0, 0, 0], 1.0, 1.0),  # empty mask, nothing predicted: perfect
        ([1, 0, 0, 0], [0, 0, 0, 0], 0.0, 0.0),  # empty mask, a false positive
        ([0, 0, 0, 0], [1, 1, 0, 0], 0.0, 0.0),  # foreground missed entirely
        ([1, 1, 1, 1], [1, 1, 1, 1], 1.0, 1.0),  # all foreground, found
        ([1, 1, 1, 1], [1, 1, 0, 0], 2 * 2 / 6, 2 / 4),  # all predicted, half true
    ],
)
def test_foreground_scores_for_edge_masks(pred, true, dice, iou):
    counts = class_counts(mask(pred), mask(true), 2)
    assert float(dice_from_counts(counts)[1]) == pytest.approx(dice)
    assert float(iou_from_counts(counts)[1]) == pytest.approx(iou)


def test_evaluator_binary_sums_over_batches_and_thresholds_at_half():
    ev = SegmentationEvaluator(2, torch.device("cpu"))
    # sigmoid 0.8, 0.6 → foreground; 0.3, 0.1 → background
    ev.update(binary_logits(), mask([1, 0, 0, 0]))
    ev.update(binary_logits(), mask([1, 1, 0, 0]))
    # foreground: intersection 1 + 2, predicted 2 + 2, true 1 + 2
    got = ev.compute()
    assert got["val_dice"] == pytest.approx(6 / 7)
    assert got["val_iou"] == pytest.approx(3 / 4)
    ev.reset()
    ev.update(binary_logits(), mask([1, 1, 0, 0]))
    assert ev.compute() == {"val_dice": pytest.approx(1.0), "val_iou": pytest.approx(1.0)}


def test_evaluator_multiclass_uses_argmax_and_averages_foreground_classes():
    ev = SegmentationEvaluator(3, torch.device("cpu"))
    ev.update(LOGITS3, torch.tensor([0, 1]).view(1, 1, 2))  # predicts [0, 2]
    dice, iou = ev.per_class()
    assert dice == pytest.approx([1.0, 0.0, 0.0]) and iou == pytest.approx([1.0, 0.0, 0.0])
    assert ev.compute()["val_dice"] == pytest.approx(0.0)
    with pytest.raises(ValueError, match="outputs 1 channels for 3 classes"):
        ev.update(torch.zeros(1, 1, 1, 2), torch.zeros(1, 1, 2, dtype=torch.long))


def test_batch_dice_is_the_foreground_dice():
    assert float(batch_dice(binary_logits(), mask([1, 0, 0, 0]), 2)) == pytest.approx(2 / 3)
    assert float(batch_dice(binary_logits(-0.0 + torch.full((4,), 0.1)), EMPTY, 2)) == 1.0


def test_report_and_preview():
    ev = SegmentationEvaluator(2, torch.device("cpu"))
    assert ev.report(["background", "car"]) == "" and ev.preview() is None
    big = torch.zeros(1, 1, 128, 96)
    big[..., :64, :48] = 5.0
    true = torch.zeros(1, 128, 96, dtype=torch.long)
    true[:, :64, :] = 1
    ev.update(big, true)
    preview = ev.preview()
    assert preview is not None and preview.pred.shape == (64, 48)  # shrunk to <= 64 a side
    assert preview.pred.device.type == "cpu" and preview.pred.dtype == torch.uint8
    assert preview.dice == pytest.approx(2 * 64 * 48 / (64 * 48 + 64 * 96))
    report = ev.report(["background", "car"])
    lines = report.splitlines()
    assert lines[0].split() == ["class", "dice", "iou", "true", "px", "pred", "px"]
    assert lines[2].split()[:3] == ["car", f"{2 * 48 / (48 + 96):.4f}", f"{48 / 96:.4f}"]
    assert "predicted" in report and "█" in report


# -- the text preview --------------------------------------------------------------------------
def test_render_binary_mask_with_half_blocks():
    m = torch.zeros(4, 4, dtype=torch.long)
    m[0, :2] = 1  # top row only: upper half blocks
    m[2:, 2:] = 1  # bottom-right 2x2: full blocks
    assert render_mask(m, 4) == ["▀▀··", "··██"]


def test_render_mask_pair_layout_and_width():
    m = torch.zeros(8, 8, dtype=torch.long)
    m[:4, :4] = 1
    lines = render_mask_pair(m, m.flip(1), 40)
    assert lines[0].startswith("predicted") and lines[0].endswith("true")
    assert lines[1] == "████····" + " " * 4 + "····████"
    assert len(lines) == 1 + 4 and all(len(line) <= 40 for line in lines)
    narrow = render_mask_pair(m, m, 11)
    assert all(len(line) <= 11 for line in narrow) and narrow[0].startswith("pred ")


def test_render_multiclass_pair_with_legend():
    m = torch.tensor([[0, 1, 2, 3], [0, 1, 2, 3]])
    lines = render_mask_pair(m, m, 40, ["background", "ellipse", "rectangle", "triangle"])
    assert lines[1] == "·░▒▓".ljust(len("predicted")) + " " * 3 + "·░▒▓"  # 1 line per 2 rows
    assert lines[-1] == "░ ellipse  ▒ rectangle  ▓ triangle"


def test_segmentation_task_train_hits():
    from tui_trainer.config import load_config
    from tui_trainer.engine.tasks import build_task

    config, _ = load_config("shapes-unet")
    task = build_task(config)
    assert task.train_metric == "train_dice"
    hits, units = task.train_hits(binary_logits().expand(3, 1, 2, 2), HALF.expand(3, 2, 2))
    assert units == 3 and isinstance(hits, torch.Tensor) and float(hits) == pytest.approx(3.0)
    hits, units = task.train_hits(LOGITS3, torch.tensor([0, 1]).view(1, 1, 2))
    assert units == 1 and float(hits) == pytest.approx(0.0)  # both foreground classes missed
