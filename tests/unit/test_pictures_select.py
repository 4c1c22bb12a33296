"""Choosing pictures: fixed sample positions, the worst mistakes on constructed cases."""

from __future__ import annotations

import torch

from tui_trainer.engine.pictures.collect import TensorCollector
from tui_trainer.engine.pictures.detect import DetectionCollector
from tui_trainer.engine.pictures.keep import TopRows, sample_positions
from tui_trainer.engine.pictures.scores import image_dice, image_f1


def test_sample_positions_are_evenly_spaced_and_need_no_rng():
    state = torch.random.get_rng_state()
    assert sample_positions(4, 100) == [12, 37, 62, 87]
    assert sample_positions(8, 3) == [0, 1, 2]  # fewer images than asked
    assert sample_positions(0, 100) == []
    assert sample_positions(5, 360) == sample_positions(5, 360)
    assert torch.equal(state, torch.random.get_rng_state())


def test_top_rows_keeps_the_k_highest_over_batches():
    top = TopRows(3)
    for offset, keys in ((0, [0.1, 0.9, 0.5]), (3, [0.7, 0.2]), (5, [0.95, 0.0, 0.6])):
        k = torch.tensor(keys)
        top.offer(k, lambda rows, o=offset: {"position": rows + o})
    keys, fields = top.host()
    assert torch.allclose(keys, torch.tensor([0.95, 0.9, 0.7]))
    assert fields["position"].tolist() == [5, 1, 3]


def _classifier(samples=2, mistakes=2, total=6):
    return TensorCollector(
        "classification", samples=samples, mistakes=mistakes, total=total, size=8, num_classes=3
    )


def test_classification_mistakes_are_the_most_confident_wrong_answers_in_order():
    c = _classifier()
    x = torch.rand(6, 1, 4, 4)
    targets = torch.tensor([0, 1, 2, 0, 1, 2])
    logits = torch.tensor(
        [
            [9.0, 0.0, 0.0],  # right, very confident: never a mistake
            [3.0, 0.0, 0.0],  # wrong (1 -> 0), confident
            [0.0, 1.0, 0.0],  # wrong (2 -> 1), unsure
            [0.0, 8.0, 0.0],  # wrong (0 -> 1), most confident
            [0.0, 2.0, 0.0],  # right
            [0.5, 0.0, 0.0],  # wrong, least confident
        ]
    )
    c.update(x[:4], targets[:4], logits[:4])
    c.update(x[4:], targets[4:], logits[4:])
    captured = c.finish()
    assert [s.position for s in captured.mistakes] == [3, 1]
    assert [(s.true_id, s.pred_id) for s in captured.mistakes] == [(0, 1), (1, 0)]
    assert captured.mistakes[0].confidence == float(logits[3].softmax(0).max())
    assert [s.position for s in captured.samples] == [1, 4]  # sample_positions(2, 6)
    assert captured.confusion == [[1, 1, 0], [1, 1, 0], [1, 1, 0]]
    assert captured.samples[0].image.shape == (1, 4, 4)  # smaller than size: kept as is


def test_segmentation_mistakes_are_the_lowest_dice_images():
    c = TensorCollector("segmentation", samples=0, mistakes=2, total=4, size=16, num_classes=2)
    truth = torch.zeros(4, 4, 4, dtype=torch.int64)
    truth[:, :2] = 1  # top half is the object
    pred = truth.clone()
    pred[1] = 0  # misses everything: Dice 0
    pred[2, :1] = 0  # half the object: Dice 2/3
    pred[3, 2:, :2] = 1  # a quarter too much: Dice 2·8/(12+8) = 0.8
    logits = torch.where(pred.unsqueeze(1) == 1, 5.0, -5.0)  # one channel: logit > 0
    c.update(torch.rand(4, 3, 4, 4), truth, logits)
    captured = c.finish()
    assert [s.position for s in captured.mistakes] == [1, 2]
    assert captured.mistakes[0].score == 0.0
    assert abs(captured.mistakes[1].score - 2 / 3) < 1e-6
    assert not captured.mistakes[0].correct and captured.mistakes[1].correct


def test_image_dice_means_present_foreground_classes_and_empty_is_one():
    true = torch.tensor([[[1, 1], [2, 0]], [[0, 0], [0, 0]]])
    pred = torch.tensor([[[1, 0], [2, 0]], [[0, 0], [0, 0]]])
    dice = image_dice(pred, true, 3)
    assert torch.allclose(dice, torch.tensor([(2 / 3 + 1.0) / 2, 1.0]))


def test_image_f1_matches_greedily_by_score_and_class():
    true = torch.tensor([[0.0, 0, 10, 10], [20, 20, 30, 30]])
    true_labels = torch.tensor([0, 1])
    boxes = torch.tensor([[0.0, 0, 10, 10], [20, 20, 30, 30], [0, 0, 9, 9]])
    scores = torch.tensor([0.9, 0.8, 0.95])
    labels = torch.tensor([0, 0, 0])  # the second has the wrong class
    # 0.95 takes the first truth, 0.9 finds it taken, 0.8 has the wrong class: 1 hit of 2 + 3
    assert image_f1(true, true_labels, boxes, scores, labels) == 2 * 1 / 5
    empty = torch.zeros(0, 4)
    none = torch.zeros(0, dtype=torch.int64)
    assert image_f1(empty, none, empty, torch.zeros(0), none) == 1.0
    assert image_f1(true, true_labels, empty, torch.zeros(0), none) == 0.0


def _det(boxes, scores, labels):
    return {
        "boxes": torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4),
        "scores": torch.tensor(scores, dtype=torch.float32),
        "labels": torch.tensor(labels, dtype=torch.int64),
    }


def test_detection_mistakes_are_the_lowest_f1_images():
    c = DetectionCollector(samples=1, mistakes=2, total=3, size=32)
    box = [[2.0, 2, 12, 12]]
    targets = [{"boxes": torch.tensor(box), "labels": torch.tensor([0])} for _ in range(3)]
    outputs = [
        _det(box, [0.9], [0]),  # perfect: F1 1
        _det([], [], []),  # missed: F1 0
        _det([[2.0, 2, 12, 12], [20, 20, 30, 30]], [0.9, 0.8], [0, 0]),  # one extra: F1 2/3
    ]
    c.update(torch.rand(2, 3, 32, 32), targets[:2], outputs[:2])
    c.update(torch.rand(1, 3, 32, 32), targets[2:], outputs[2:])
    captured = c.finish()
    assert [s.position for s in captured.mistakes] == [1, 2]
    assert [round(s.score or 0, 4) for s in captured.mistakes] == [0.0, 0.6667]
    assert [s.position for s in captured.samples] == [1]
    assert captured.mistakes[1].pred_boxes is not None and captured.mistakes[
        1
    ].pred_boxes.shape == (2, 6)


def test_outputs_it_cannot_read_turn_pictures_off_without_failing():
    c = _classifier()
    c.update(torch.rand(2, 1, 4, 4), torch.tensor([0, 1]), torch.rand(2, 3, 4, 4))
    captured = c.finish()
    assert captured.skipped and not captured.samples and not captured.mistakes


def test_collecting_a_batch_never_reads_a_value_back_to_the_host():
    """Meta tensors have no values: any host sync (.item(), bool(), .cpu(), boolean
    indexing, bincount's size) would raise. Images are shrunk before they are kept."""
    meta = torch.device("meta")
    cls = TensorCollector("classification", samples=4, mistakes=3, total=20, size=4,
                          num_classes=3, mean=(0.5,), std=(0.2,))  # fmt: skip
    seg = TensorCollector("segmentation", samples=4, mistakes=3, total=20, size=4, num_classes=3)
    for _ in range(4):
        x = torch.empty(5, 3, 8, 8, device=meta)
        cls.update(
            x, torch.empty(5, dtype=torch.int64, device=meta), torch.empty(5, 3, device=meta)
        )
        masks = torch.empty(5, 8, 8, dtype=torch.int64, device=meta)
        seg.update(x, masks, torch.empty(5, 3, 8, 8, device=meta))
    assert cls.worst.keys is not None and cls.worst.keys.shape == (3,)
    assert cls.worst.fields["image"].shape == (3, 3, 4, 4)
    assert sum(int(p["position"].shape[0]) for p in cls.parts) == 4
    assert seg.worst.fields["true_mask"].shape == (3, 4, 4)


def test_a_model_whose_outputs_pictures_cannot_read_gets_one_info_line(tmp_path):
    from types import SimpleNamespace

    from tui_trainer.config.sections import PicturesConfig
    from tui_trainer.engine.pictures.recorder import PictureRecorder
    from tui_trainer.runlog.events import LogMessage

    val = SimpleNamespace(batch_sizes=lambda: [2])
    data = SimpleNamespace(val=val, val_samples=2, num_classes=3, class_names=["a", "b", "c"],
                           input_spec=None, val_name=None)  # fmt: skip
    events: list = []
    rec = PictureRecorder(tmp_path, PicturesConfig(), "classification", data, events.append)  # type: ignore[arg-type]
    for _ in range(2):
        c = rec.collector()
        assert c is not None
        c.update(torch.rand(2, 1, 4, 4), torch.tensor([0, 1]), {"logits": torch.rand(2, 3)})
        rec.record(1, c)
    assert events == [LogMessage("info", events[0].message)]
    assert events[0].message.startswith("pictures: none for this model")
    assert not (tmp_path / "samples").exists()
