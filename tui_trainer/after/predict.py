"""`tui-trainer predict`: the model's answers for image files, written as CSV and mask PNGs.

Each file goes through the run's validation preprocessing (`InputSpec`, built by the data's
own builder) and the same autocast as validation. Classification prints and writes the top-k
classes; segmentation writes a mask PNG (class indices, or 0/255 for binary) and an overlay,
both at the image's own size. Files that cannot be decoded are listed and skipped.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePath

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from tui_trainer.after.images import Found, read_image
from tui_trainer.after.loading import LoadedRun
from tui_trainer.after.outputs import staged_dir
from tui_trainer.engine.data.decode import BadImage
from tui_trainer.engine.device import autocast
from tui_trainer.engine.tasks.segmentation.metrics import hard_predictions
from tui_trainer.errors import UserError

# Overlay colours per class (background is left as is); cycles for many classes.
PALETTE = [
    (230, 25, 75),
    (60, 180, 75),
    (0, 130, 200),
    (255, 225, 25),
    (145, 30, 180),
    (70, 240, 240),
    (245, 130, 48),
    (240, 50, 230),
]
OVERLAY_ALPHA = 0.45
DEFAULT_CONF = 0.25  # detection: --conf (0.001 for an evaluation-grade dump)
DEFAULT_MAX_DET = 100  # detection: --max-det


@dataclass
class PredictOutcome:
    """What a predict run did."""

    out_dir: Path | None  # None when nothing could be read (nothing written)
    done: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (file, reason)
    ignored: int = 0  # non-image files found in folders
    rows: list[dict[str, object]] = field(default_factory=list)  # predictions.csv rows


def _batches(found: list[Found], size: int) -> Iterator[list[Found]]:
    for i in range(0, len(found), size):
        yield found[i : i + size]


def _output_stem(name: str, used: set[str]) -> str:
    """`dir/cat.jpg` → `dir/cat`; `dir/cat.jpg` again (cat.png beside it) → `dir/cat.png`."""
    pure = PurePath(name)
    stem = str(pure.with_suffix("")) if pure.suffix else name
    if stem in used:
        stem = name
    n = 1
    base = stem
    while stem in used:
        n += 1
        stem = f"{base}-{n}"
    used.add(stem)
    return stem


@torch.inference_mode()
def _forward(run: LoadedRun, inputs: list[torch.Tensor]) -> torch.Tensor:
    x = torch.stack(inputs).to(run.device)
    with autocast(run.device, run.config.precision):
        logits = run.model(x)
    return logits.float()


def _classify(run: LoadedRun, logits: torch.Tensor, k: int) -> list[list[tuple[str, float]]]:
    probs = logits.softmax(dim=1).cpu()
    values, indices = probs.topk(min(k, probs.shape[1]), dim=1)
    names = run.class_names
    return [
        [(names[int(i)], float(v)) for v, i in zip(vs, ix, strict=True)]
        for vs, ix in zip(values, indices, strict=True)
    ]


def mask_image(logits: torch.Tensor, size: tuple[int, int], num_classes: int) -> np.ndarray:
    """(H, W) uint8 mask at `size` (width, height) from one image's (C, S, S) logits.

    Logits are resized bilinearly, then turned into hard classes (as validation does); a
    binary task gives 0/255, a multi-class one class indices.
    """
    width, height = size
    up = F.interpolate(logits[None], size=(height, width), mode="bilinear", align_corners=False)
    classes = hard_predictions(up)[0].to(torch.uint8).cpu().numpy()
    return classes * 255 if num_classes == 2 else classes


def overlay_image(image: Image.Image, classes: np.ndarray) -> Image.Image:
    """`image` with each foreground class tinted in its palette colour."""
    rgb = np.asarray(image.convert("RGB")).astype(np.float32)
    tint = rgb.copy()
    for value in np.unique(classes):
        if value == 0:
            continue
        tint[classes == value] = PALETTE[(int(value) - 1) % len(PALETTE)]
    out = rgb * (1 - OVERLAY_ALPHA) + tint * OVERLAY_ALPHA
    out[classes == 0] = rgb[classes == 0]
    return Image.fromarray(out.round().clip(0, 255).astype(np.uint8))


def predict(
    run: LoadedRun,
    found: list[Found],
    out_dir: Path,
    *,
    top_k: int = 3,
    batch_size: int = 32,
    out_key: str = "--out",
    renumber: bool = False,
) -> PredictOutcome:
    """Predict every file in `found`, writing into `out_dir` (a new folder) atomically.

    `renumber`: a default folder taken meanwhile becomes `out_dir-2` ... (`outcome.out_dir`
    says where the results went). Raises UserError (nothing written) when no file could be
    read, OutputFailed when writing failed (nothing written either).
    """
    outcome = PredictOutcome(out_dir=out_dir)
    segmentation = run.config.task == "segmentation"
    spec = run.input_spec
    used: set[str] = set()
    with staged_dir(out_dir, out_key, renumber=renumber) as staged:
        tmp = staged.tmp
        for chunk in _batches(found, batch_size):
            images, inputs, files = [], [], []
            for item in chunk:
                try:  # the whole image only where outputs are at its size (masks, overlays)
                    img = read_image(item.path) if segmentation else None
                    inputs.append(spec.from_file(item.path))
                except BadImage as exc:
                    outcome.skipped.append((str(item.path), exc.reason))
                    continue
                except ValueError as exc:
                    outcome.skipped.append((str(item.path), str(exc)))
                    continue
                images.append(img)
                files.append(item)
            if not inputs:
                continue
            logits = _forward(run, inputs)
            if segmentation:
                for item, img, out in zip(files, images, logits, strict=True):
                    assert img is not None
                    outcome.rows.append(_write_masks(run, item, img, out, tmp, used))
            else:
                for item, top in zip(files, _classify(run, logits, top_k), strict=True):
                    for rank, (name, prob) in enumerate(top, start=1):
                        outcome.rows.append(
                            {
                                "file": str(item.path),
                                "rank": rank,
                                "class": name,
                                "probability": prob,
                            }
                        )
            outcome.done += len(files)
        if outcome.done == 0:
            first = outcome.skipped[0] if outcome.skipped else ("?", "?")
            raise UserError(
                f"IMAGE_OR_FOLDER: none of the {len(found)} file(s) could be read as an image "
                f"(e.g. '{first[0]}': {first[1]})"
            )
        _write_csv(tmp / "predictions.csv", outcome.rows)
        if outcome.skipped:
            _write_csv(tmp / "skipped.csv", [{"file": f, "reason": r} for f, r in outcome.skipped])
    outcome.out_dir = staged.final
    return outcome


def _write_masks(
    run: LoadedRun, item: Found, img: Image.Image, logits: torch.Tensor, tmp: Path, used: set[str]
) -> dict[str, object]:
    num_classes = run.data.num_classes
    mask = mask_image(logits, img.size, num_classes)
    stem = _output_stem(item.name, used)
    mask_path, overlay_path = tmp / f"{stem}_mask.png", tmp / f"{stem}_overlay.png"
    mask_path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(mask, mode="L").save(mask_path)
    classes = (mask > 0).astype(np.uint8) if num_classes == 2 else mask
    overlay_image(img, classes).save(overlay_path)
    row: dict[str, object] = {
        "file": str(item.path),
        "mask": f"{stem}_mask.png",
        "overlay": f"{stem}_overlay.png",
        "width": img.size[0],
        "height": img.size[1],
    }
    total = classes.size
    for index, name in enumerate(run.class_names):
        row[f"{name}_fraction"] = round(float((classes == index).sum()) / total, 6)
    return row


def _write_csv(path: Path, rows: list[dict[str, object]]) -> None:
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def check_limits(conf: float | None, max_det: int | None) -> None:
    """One-line UserErrors for a `--conf` outside [0, 1] or a `--max-det` below 1."""
    if conf is not None and not (math.isfinite(conf) and 0.0 <= conf <= 1.0):
        raise UserError(f"--conf: expected a score in [0, 1], got {conf:g}")
    if max_det is not None and max_det < 1:
        raise UserError(f"--max-det: expected a whole number >= 1, got {max_det}")
