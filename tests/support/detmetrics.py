"""A fixed detection validation set for the metric tests: boxes in original pixels, the same
letterboxed for the evaluator (as the loader and the model would give them), and pycocotools'
own numbers on the original-pixel boxes."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

NUM_CLASSES = 4  # class 3 has boxes but is never predicted
NAMES = ["circle", "square", "triangle", "star"]
SIZE = 128  # the network's square input


@dataclass
class Img:
    """One image in original pixels."""

    image_id: int
    width: int
    height: int
    true_boxes: np.ndarray  # (k, 4) xyxy
    true_labels: np.ndarray
    boxes: np.ndarray  # detections
    scores: np.ndarray
    labels: np.ndarray


def letterbox(width: int, height: int, size: int = SIZE) -> tuple[float, float, float]:
    """(scale, pad_x, pad_y) with net = orig * scale + pad (the loader's centred letterbox)."""
    scale = size / max(width, height)
    return scale, (size - width * scale) / 2, (size - height * scale) / 2


def _jitter(rng: np.random.Generator, box: np.ndarray, amount: float) -> np.ndarray:
    w, h = box[2] - box[0], box[3] - box[1]
    d = rng.uniform(-amount, amount, 4) * np.array([w, h, w, h])
    return box + d


def fixed_set(seed: int = 7) -> list[Img]:
    """Seven images: several classes, one background image, one class without predictions,
    one image crowded with 150 low-score boxes (past COCO's 100 per image and class)."""
    rng = np.random.default_rng(seed)
    sizes = [(640, 480), (300, 500), (128, 128), (200, 90), (512, 512), (333, 250), (97, 211)]
    images = []
    for n, (w, h) in enumerate(sizes):
        k = 0 if n == 2 else int(rng.integers(2, 7))  # image 2: background
        x1 = rng.uniform(0, 0.6 * w, k)
        y1 = rng.uniform(0, 0.6 * h, k)
        bw = rng.uniform(0.1 * w, 0.4 * w, k)
        bh = rng.uniform(0.1 * h, 0.4 * h, k)
        true = np.stack([x1, y1, x1 + bw, y1 + bh], axis=1).reshape(-1, 4)
        labels = rng.integers(0, NUM_CLASSES, k)
        if n == 0:
            labels[:2] = [3, 1]  # classes 3 and 1 surely have boxes
        if n == 4:
            labels[0] = 0  # the crowd's class
        boxes, scores, plabels = [], [], []
        for box, label in zip(true, labels, strict=True):
            if label == 3:
                continue  # never predicted
            for amount, score in ((0.05, rng.uniform(0.5, 1.0)), (0.3, rng.uniform(0.1, 0.6))):
                boxes.append(_jitter(rng, box, amount))
                scores.append(score)
                plabels.append(label)
        # false positives, one of them on the background image
        for _ in range(2):
            x, y = rng.uniform(0, 0.7 * w), rng.uniform(0, 0.7 * h)
            boxes.append(np.array([x, y, x + 0.2 * w, y + 0.2 * h]))
            scores.append(rng.uniform(0.05, 0.7))
            plabels.append(int(rng.integers(0, 3)))
        if n == 4:  # a crowd of low-score boxes of class 0 around its box: some match it
            for _ in range(150):
                boxes.append(_jitter(rng, true[0], 0.25))
                scores.append(rng.uniform(0.001, 0.05))
                plabels.append(0)
        pb = np.array(boxes, dtype=np.float64).reshape(-1, 4)
        pb[:, 0::2] = pb[:, 0::2].clip(0, w)
        pb[:, 1::2] = pb[:, 1::2].clip(0, h)
        images.append(
            Img(
                image_id=100 + n,
                width=w,
                height=h,
                true_boxes=true.astype(np.float32),
                true_labels=labels.astype(np.int64),
                boxes=pb.astype(np.float32),
                scores=np.array(scores, dtype=np.float32),
                labels=np.array(plabels, dtype=np.int64),
            )
        )
    return images


def to_batch(images: list[Img]) -> tuple[list[dict], list[dict]]:
    """(model outputs, loader targets) of `images`: boxes in letterboxed network pixels."""
    outputs, targets = [], []
    for im in images:
        scale, px, py = letterbox(im.width, im.height)
        pad = np.array([px, py, px, py])
        outputs.append(
            {
                "boxes": torch.tensor(im.boxes * scale + pad, dtype=torch.float32),
                "scores": torch.tensor(im.scores),
                "labels": torch.tensor(im.labels),
            }
        )
        targets.append(
            {
                "boxes": torch.tensor(im.true_boxes * scale + pad, dtype=torch.float32),
                "labels": torch.tensor(im.true_labels),
                "image_id": torch.tensor(im.image_id),
                "letterbox": torch.tensor([scale, px, py, 0.0], dtype=torch.float32),
                "orig_size": torch.tensor([im.height, im.width]),
            }
        )
    return outputs, targets


def pycocotools_stats(images: list[Img]) -> list[float]:
    """pycocotools' 12 COCO stats for `images` (original pixels, ids from 1)."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    gt = COCO()
    anns, dets = [], []
    for n, im in enumerate(images, start=1):
        for b, lab in zip(im.true_boxes.tolist(), im.true_labels.tolist(), strict=True):
            w, h = b[2] - b[0], b[3] - b[1]
            anns.append(
                {
                    "id": len(anns) + 1,
                    "image_id": n,
                    "category_id": lab + 1,
                    "bbox": [b[0], b[1], w, h],
                    "area": w * h,
                    "iscrowd": 0,
                }
            )
        for b, s, lab in zip(
            im.boxes.tolist(), im.scores.tolist(), im.labels.tolist(), strict=True
        ):
            dets.append(
                {
                    "image_id": n,
                    "category_id": lab + 1,
                    "bbox": [b[0], b[1], b[2] - b[0], b[3] - b[1]],
                    "score": s,
                }
            )
    gt.dataset = {
        "images": [
            {"id": n, "width": im.width, "height": im.height} for n, im in enumerate(images, 1)
        ],
        "annotations": anns,
        "categories": [{"id": c + 1, "name": NAMES[c]} for c in range(NUM_CLASSES)],
    }
    gt.createIndex()
    ev = COCOeval(gt, gt.loadRes(dets), "bbox")
    ev.evaluate()
    ev.accumulate()
    ev.summarize()
    return [float(s) for s in ev.stats]


def gather_worker(rank: int, world: int, init_file: str, out_dir: str) -> None:
    """One rank of a gloo group (torch.multiprocessing.spawn): evaluate this rank's shard of
    `fixed_set()` (rank 1 also gets image 0 again, as a padded shard would) and write the
    metrics to OUT_DIR/RANK.json. Leaves with os._exit (see engine/distributed.py)."""
    import json
    import os
    from pathlib import Path

    import torch.distributed as tdist

    from tui_trainer.engine.distributed import DistContext
    from tui_trainer.engine.tasks.detection.metrics import DetectionEvaluator

    tdist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world)
    dist = DistContext(rank=rank, world_size=world, backend="gloo")
    images = fixed_set()
    mine = images[rank::world] + ([images[0]] if rank == 1 else [])
    ev = DetectionEvaluator(NUM_CLASSES, torch.device("cpu"), dist)
    outputs, targets = to_batch(mine)
    for i in range(0, len(mine), 2):
        ev.update(outputs[i : i + 2], targets[i : i + 2])
    result = {"metrics": ev.compute(), "details": ev.details(NAMES)}
    Path(out_dir, f"{rank}.json").write_text(json.dumps(result), encoding="utf-8")
    tdist.barrier()
    tdist.destroy_process_group()
    os._exit(0)
