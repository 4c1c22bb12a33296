"""torchvision's detection reference loop, transcribed, on tui-trainer's generated shapes.

The baseline of `detect_vs_reference.py`. We have no internet at run time, so this carries a
minimal, faithful transcription of pytorch/vision `references/detection/`:

- `train.py` (commit 013d1322a1c4559ee6606afb92d54a8240e07994): SGD(params that require grad,
  lr, momentum, weight_decay), `MultiStepLR(milestones=lr_steps, gamma)` stepped once per epoch
  after `train_one_epoch`, a `DataLoader` with `collate_fn=utils.collate_fn` (tuple(zip(*batch)))
  over a `BatchSampler(RandomSampler, batch_size, drop_last=True)` (the
  `--aspect-ratio-group-factor -1` branch: every image here is the same square), the test loader
  at batch size 1 over a `SequentialSampler`, `evaluate` after every epoch.
- `engine.py` (commit 08eb80315bc838623d908c6e81bd119d98057bd7), `train_one_epoch`, all of its
  per-step work: `LinearLR(start_factor=1/1000, total_iters=min(1000, len(loader) - 1))` in
  epoch 0 stepped after every step; images and targets to the device; `loss_dict =
  model(images, targets)`; `losses = sum(...)`; `utils.reduce_dict` (the identity in one
  process); `loss_value = losses_reduced.item()` every step and the `math.isfinite` check;
  `zero_grad`, `backward`, `step`; `metric_logger.update(loss=..., **loss_dict_reduced)` (one
  `.item()` per loss part) and `update(lr=...)`; `log_every`'s timing and its line every
  `print_freq` (20) steps. `evaluate`: `torch.inference_mode`, one thread, `model.eval()`,
  outputs to the CPU, `{image_id: output}` into a COCO evaluator, accumulate, summarize.
- `utils.py` (commit 15fc26c7008e792893b7dba1581e4cf080933f73): `SmoothedValue`,
  `MetricLogger.update/log_every`, `reduce_dict` (single-process branch).
- `coco_eval.py` / `coco_utils.get_coco_api_from_dataset`: ground truth as a COCO object (boxes
  xywh, area = w*h, iscrowd 0), detections as `loadRes` of xywh boxes, `COCOeval(..., "bbox")`;
  here with pycocotools, as upstream.

Not transcribed (no part of the loop's cost here): distributed setup, checkpoint saving (off:
no `--output-dir`), AMP (fp32), augmentation (none on either side, so the loops are compared).
The data are `generate_shapes` with the run's seed, size and count, letterboxed by
tui-trainer's `letterbox` (the identity for generated squares) and made float in [0, 1] per
item, as the reference's `ToTensor` does; the model is `fcos_tiny` built by tui-trainer's own
`build_model` right after seeding as `tui-trainer run` does, so both start from the same weights.

    python benchmarks/detect_reference_loop.py --out result.json [--epochs 2] [--n 320] ...

Writes {"train_seconds", "train_images", "images_per_second", "cpu_seconds", "val_map",
"val_map50"}. Training seconds are `train_one_epoch`'s (data loading included, evaluation
excluded), as tui-trainer's `train_seconds` are; `cpu_seconds` is this process's CPU time
(all its threads) over the same spans.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import io
import json
import math
import sys
import time
from collections import defaultdict, deque
from pathlib import Path

import torch
from torch.utils.data import BatchSampler, DataLoader, Dataset, RandomSampler, SequentialSampler

# --- utils.py ---------------------------------------------------------------------------------


class SmoothedValue:
    """utils.SmoothedValue: a window and the global average."""

    def __init__(self, window_size: int = 20, fmt: str | None = None) -> None:
        self.deque: deque[float] = deque(maxlen=window_size)
        self.total, self.count = 0.0, 0
        self.fmt = fmt or "{median:.4f} ({global_avg:.4f})"

    def update(self, value: float, n: int = 1) -> None:
        self.deque.append(value)
        self.count += n
        self.total += value * n

    @property
    def median(self) -> float:
        return torch.tensor(list(self.deque)).median().item()

    @property
    def avg(self) -> float:
        return torch.tensor(list(self.deque), dtype=torch.float32).mean().item()

    @property
    def global_avg(self) -> float:
        return self.total / self.count

    def __str__(self) -> str:
        return self.fmt.format(
            median=self.median,
            avg=self.avg,
            global_avg=self.global_avg,
            max=max(self.deque),
            value=self.deque[-1],
        )


def reduce_dict(input_dict: dict, average: bool = True) -> dict:
    """utils.reduce_dict in one process: the dict itself."""
    return input_dict


class MetricLogger:
    """utils.MetricLogger: meters updated with `.item()` of each tensor, a line every so often."""

    def __init__(self, delimiter: str = "\t") -> None:
        self.meters: defaultdict[str, SmoothedValue] = defaultdict(SmoothedValue)
        self.delimiter = delimiter

    def update(self, **kwargs: float | torch.Tensor) -> None:
        for k, v in kwargs.items():
            if isinstance(v, torch.Tensor):
                v = v.item()
            assert isinstance(v, (float, int))
            self.meters[k].update(v)

    def add_meter(self, name: str, meter: SmoothedValue) -> None:
        self.meters[name] = meter

    def __str__(self) -> str:
        return self.delimiter.join(f"{name}: {meter}" for name, meter in self.meters.items())

    def log_every(self, iterable, print_freq: int, header: str = ""):
        i = 0
        start_time = end = time.time()
        iter_time = SmoothedValue(fmt="{avg:.4f}")
        data_time = SmoothedValue(fmt="{avg:.4f}")
        space_fmt = ":" + str(len(str(len(iterable)))) + "d"
        fields = ["eta: {eta}", "{meters}", "time: {time}", "data: {data}"]
        log_msg = self.delimiter.join([header, "[{0" + space_fmt + "}/{1}]", *fields])
        for obj in iterable:
            data_time.update(time.time() - end)
            yield obj
            iter_time.update(time.time() - end)
            if i % print_freq == 0 or i == len(iterable) - 1:
                eta = str(
                    datetime.timedelta(seconds=int(iter_time.global_avg * (len(iterable) - i)))
                )
                print(
                    log_msg.format(
                        i,
                        len(iterable),
                        eta=eta,
                        meters=str(self),
                        time=str(iter_time),
                        data=str(data_time),
                    ),
                    flush=True,
                )
            i += 1  # noqa: SIM113 (as upstream)
            end = time.time()
        total = time.time() - start_time
        print(
            f"{header} Total time: {datetime.timedelta(seconds=int(total))} "
            f"({total / len(iterable):.4f} s / it)",
            flush=True,
        )


def collate_fn(batch):
    """utils.collate_fn."""
    return tuple(zip(*batch, strict=True))


# --- engine.py --------------------------------------------------------------------------------


def train_one_epoch(model, optimizer, data_loader, device, epoch, print_freq):
    """engine.train_one_epoch, fp32 (no scaler)."""
    model.train()
    metric_logger = MetricLogger(delimiter="  ")
    metric_logger.add_meter("lr", SmoothedValue(window_size=1, fmt="{value:.6f}"))
    header = f"Epoch: [{epoch}]"

    lr_scheduler = None
    if epoch == 0:
        warmup_factor = 1.0 / 1000
        warmup_iters = min(1000, len(data_loader) - 1)
        lr_scheduler = torch.optim.lr_scheduler.LinearLR(
            optimizer, start_factor=warmup_factor, total_iters=warmup_iters
        )

    for images, targets in metric_logger.log_every(data_loader, print_freq, header):
        images = list(image.to(device) for image in images)
        targets = [{k: v.to(device) for k, v in t.items()} for t in targets]
        loss_dict = model(images, targets)
        losses = sum(loss for loss in loss_dict.values())

        loss_dict_reduced = reduce_dict(loss_dict)
        losses_reduced = sum(loss for loss in loss_dict_reduced.values())
        loss_value = losses_reduced.item()
        if not math.isfinite(loss_value):
            print(f"Loss is {loss_value}, stopping training")
            sys.exit(1)

        optimizer.zero_grad()
        losses.backward()
        optimizer.step()
        if lr_scheduler is not None:
            lr_scheduler.step()

        metric_logger.update(loss=losses_reduced, **loss_dict_reduced)
        metric_logger.update(lr=optimizer.param_groups[0]["lr"])
    return metric_logger


@torch.inference_mode()
def evaluate(model, data_loader, device, gt) -> dict[str, float]:
    """engine.evaluate with coco_eval.CocoEvaluator's bbox path (pycocotools)."""
    from pycocotools.cocoeval import COCOeval

    n_threads = torch.get_num_threads()
    torch.set_num_threads(1)
    cpu_device = torch.device("cpu")
    model.eval()
    results = []
    for images, targets in data_loader:
        images = list(img.to(device) for img in images)
        outputs = model(images)
        outputs = [{k: v.to(cpu_device) for k, v in t.items()} for t in outputs]
        res = {
            target["image_id"].item(): output
            for target, output in zip(targets, outputs, strict=True)
        }
        results.extend(coco_detections(res))  # CocoEvaluator.update -> prepare_for_coco_detection
    torch.set_num_threads(n_threads)
    with contextlib.redirect_stdout(io.StringIO()):
        dt = gt.loadRes(results) if results else None
        if dt is None:
            return {"val_map": 0.0, "val_map50": 0.0}
        ev = COCOeval(gt, dt, "bbox")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return {"val_map": float(ev.stats[0]), "val_map50": float(ev.stats[1])}


def coco_detections(predictions: dict) -> list[dict]:
    """coco_eval.prepare_for_coco_detection: xyxy -> xywh, one record per box."""
    out = []
    for image_id, p in predictions.items():
        if len(p["boxes"]) == 0:
            continue
        boxes = p["boxes"].clone()
        boxes[:, 2:] -= boxes[:, :2]
        for box, score, label in zip(
            boxes.tolist(), p["scores"].tolist(), p["labels"].tolist(), strict=True
        ):
            out.append({"image_id": image_id, "category_id": label, "bbox": box, "score": score})
    return out


# --- the data: generate_shapes, letterboxed, ToTensor per item ------------------------------


class Shapes(Dataset):
    """tui-trainer's generated shapes as the reference's datasets give them: (image, target),
    the image float in [0, 1], labels 1-based (0 is the background, as COCO's category ids)."""

    def __init__(self, samples, size: int) -> None:
        self.samples, self.size = samples, size

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, i: int):
        from tui_trainer.engine.tasks.detection.transforms import letterbox, to_chw

        a = self.samples[i]
        boxes = torch.as_tensor(a.boxes, dtype=torch.float32).reshape(-1, 4)
        square, boxes, _ = letterbox(to_chw(a.pixels), boxes, self.size)
        target = {
            "boxes": boxes,
            "labels": torch.as_tensor(a.labels, dtype=torch.int64) + 1,
            "image_id": torch.tensor(a.image_id),
        }
        return square.float().div(255), target


def coco_ground_truth(dataset: Shapes, num_classes: int):
    """coco_utils.convert_to_coco_api: the validation targets as a pycocotools COCO object."""
    from pycocotools.coco import COCO

    images, anns = [], []
    for i in range(len(dataset)):
        img, t = dataset[i]
        images.append({"id": int(t["image_id"]), "height": img.shape[-2], "width": img.shape[-1]})
        boxes = t["boxes"].clone()
        boxes[:, 2:] -= boxes[:, :2]
        for box, label in zip(boxes.tolist(), t["labels"].tolist(), strict=True):
            anns.append(
                {
                    "id": len(anns) + 1,
                    "image_id": int(t["image_id"]),
                    "bbox": box,
                    "category_id": label,
                    "area": box[2] * box[3],
                    "iscrowd": 0,
                }
            )
    gt = COCO()
    gt.dataset = {
        "images": images,
        "annotations": anns,
        "categories": [{"id": c} for c in range(1, num_classes + 1)],
    }
    with contextlib.redirect_stdout(io.StringIO()):
        gt.createIndex()
    return gt


# --- train.py ---------------------------------------------------------------------------------


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, required=True, help="where the result JSON goes")
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--n", type=int, default=320, help="generated images (train + val)")
    ap.add_argument("--val-split", type=float, default=0.2)
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--classes", type=int, default=3)
    ap.add_argument("--max-shapes", type=int, default=3)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--lr", type=float, default=0.02)
    ap.add_argument("--momentum", type=float, default=0.9)
    ap.add_argument("--weight-decay", type=float, default=1e-4)
    ap.add_argument("--lr-steps", type=int, nargs="+", default=[16, 22])
    ap.add_argument("--lr-gamma", type=float, default=0.1)
    ap.add_argument("--print-freq", type=int, default=20)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    from tui_trainer.config.schema import ModelConfig
    from tui_trainer.engine.device import seed_everything
    from tui_trainer.engine.models import build_model
    from tui_trainer.engine.tasks.detection.shapes import generate_shapes

    device = torch.device("cpu")
    seed_everything(args.seed, False)  # as `tui-trainer run` does before its data and model
    index = generate_shapes(
        args.n, args.size, args.seed, args.classes, args.max_shapes, args.val_split
    )
    dataset, dataset_test = Shapes(index.train, args.size), Shapes(index.val, args.size)
    model = build_model(
        ModelConfig(name="fcos_tiny"), args.classes, 3, args.size, task="detection"
    ).model
    model.to(device)
    checksum = float(sum(p.detach().double().sum() for p in model.parameters()))

    train_batch_sampler = BatchSampler(RandomSampler(dataset), args.batch_size, drop_last=True)
    data_loader = DataLoader(
        dataset, batch_sampler=train_batch_sampler, num_workers=0, collate_fn=collate_fn
    )
    data_loader_test = DataLoader(
        dataset_test,
        batch_size=1,
        sampler=SequentialSampler(dataset_test),
        num_workers=0,
        collate_fn=collate_fn,
    )
    gt = coco_ground_truth(dataset_test, args.classes)

    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.SGD(
        params, lr=args.lr, momentum=args.momentum, weight_decay=args.weight_decay
    )
    lr_scheduler = torch.optim.lr_scheduler.MultiStepLR(
        optimizer, milestones=args.lr_steps, gamma=args.lr_gamma
    )
    train_seconds, train_images, metrics = 0.0, 0, {}
    cpu_seconds = 0.0
    for epoch in range(args.epochs):
        t0, c0 = time.perf_counter(), time.process_time()
        train_one_epoch(model, optimizer, data_loader, device, epoch, args.print_freq)
        train_seconds += time.perf_counter() - t0
        cpu_seconds += time.process_time() - c0
        train_images += len(data_loader) * args.batch_size
        lr_scheduler.step()
        metrics = evaluate(model, data_loader_test, device, gt)
        print(f"epoch {epoch + 1}: {metrics}", flush=True)
    result = {
        "train_seconds": train_seconds,
        "train_images": train_images,
        "images_per_second": train_images / train_seconds,
        "cpu_seconds": cpu_seconds,
        "init_checksum": checksum,
        **metrics,
    }
    args.out.write_text(json.dumps(result))
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
