"""`tui-trainer predict` for a detection run: boxes in each image's own pixels, drawn and listed.

Each file is decoded upright (`images.read_image`, as the loader's `load_rgb` decodes), then
letterboxed by the loader's own `transforms.letterbox` (longer side = image_size, grey padding,
centred) and scaled to [0, 1], exactly as a validation batch is made. The detector runs in eval
mode under validation's autocast; its boxes are mapped back to the original pixels by the
evaluator's `metrics.unletterbox` (`orig = (net - pad) / scale`, clipped to the image).

`--conf` keeps detections scoring at least that much (0.25 by default; 0.001 for an
evaluation-grade dump) and `--max-det` the best that many per image (100); the detector's own
score threshold and detection cap are set to the same values first, so it neither drops
boxes the flags would keep nor spends time on ones they drop.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch import nn

from tui_trainer.after.images import Found, read_image
from tui_trainer.after.loading import LoadedRun
from tui_trainer.after.outputs import staged_dir
from tui_trainer.after.predict import (
    DEFAULT_CONF,
    DEFAULT_MAX_DET,
    PALETTE,
    PredictOutcome,
    _output_stem,
    _write_csv,
    check_limits,
)
from tui_trainer.engine.device import autocast
from tui_trainer.engine.tasks.detection.metrics import unletterbox
from tui_trainer.engine.tasks.detection.task import from_model
from tui_trainer.engine.tasks.detection.transforms import Letterbox, letterbox, to_chw
from tui_trainer.errors import UserError

BOX_WIDTH = 2  # drawn box outline, pixels (1 on images under 200 pixels)


def set_limits(model: nn.Module, conf: float, max_det: int) -> None:
    """The detector's own score threshold and detections per image set to `conf` / `max_det`
    (torchvision's one-stage detectors hold them on the model, R-CNNs on `roi_heads`; a user's
    detector without them is filtered afterwards only)."""
    for holder in (model, getattr(model, "roi_heads", None)):
        if holder is None:
            continue
        if isinstance(getattr(holder, "score_thresh", None), float):
            holder.score_thresh = conf
        if isinstance(getattr(holder, "detections_per_img", None), int):
            holder.detections_per_img = max_det


def network_input(image: Image.Image, size: int) -> tuple[torch.Tensor, Letterbox]:
    """An upright RGB image as the detector's float32 (3, size, size) input in [0, 1] and the
    letterbox that made it (the loader's `letterbox`, then the loader's scaling by 1/255)."""
    rgb = np.array(image.convert("RGB"))  # a writable copy: torch.from_numpy warns on read-only
    square, _boxes, box = letterbox(to_chw(rgb), torch.zeros((0, 4)), size)
    return square.to(torch.float32).div_(255), box


@dataclass(frozen=True)
class Prepared:
    """One readable input file: its decoded image, network input and letterbox."""

    item: Found
    image: Image.Image
    x: torch.Tensor
    box: Letterbox


def detections(
    output: dict[str, torch.Tensor],
    box: Letterbox,
    size: tuple[int, int],
    *,
    conf: float,
    max_det: int,
    class_names: list[str],
) -> list[dict[str, Any]]:
    """One image's 0-based detector output (`task.from_model`) as `predictions.json` entries:
    score >= conf, the best `max_det`, boxes as COCO [x, y, w, h] in the original pixels."""
    scores = output["scores"].float().cpu()
    order = torch.argsort(scores, descending=True, stable=True)
    order = order[scores[order] >= conf][:max_det]
    width, height = size
    lb = np.array([box.scale, box.pad_x, box.pad_y, 0.0], dtype=np.float64)
    xyxy = unletterbox(output["boxes"].float().cpu()[order].numpy(), lb, width, height)
    labels = output["labels"].cpu()[order].tolist()
    rows = []
    for (x0, y0, x1, y1), label, score in zip(
        xyxy.tolist(), labels, scores[order].tolist(), strict=True
    ):
        name = class_names[label] if 0 <= label < len(class_names) else f"class_{label}"
        rows.append(
            {
                "class": int(label),
                "name": name,
                "score": round(float(score), 5),
                "bbox": [round(x0, 2), round(y0, 2), round(x1 - x0, 2), round(y1 - y0, 2)],
            }
        )
    return rows


def json_lines(rows: list[dict[str, Any]]) -> str:
    """A JSON list with one entry per line (readable, and greppable by file name)."""
    if not rows:
        return "[]\n"
    return "[\n" + ",\n".join(json.dumps(r) for r in rows) + "\n]\n"


def drawn(image: Image.Image, rows: list[dict[str, Any]]) -> Image.Image:
    """`image` with each detection's box and `name score` drawn in its class colour."""
    from torchvision.utils import draw_bounding_boxes

    if not rows:
        return image.convert("RGB")
    rgb = to_chw(np.array(image.convert("RGB")))
    xyxy = torch.tensor(
        [[x, y, x + w, y + h] for x, y, w, h in (r["bbox"] for r in rows)], dtype=torch.float32
    )
    width = BOX_WIDTH if min(image.size) >= 200 else 1
    out = draw_bounding_boxes(
        rgb,
        xyxy,
        labels=[f"{r['name']} {r['score']:.2f}" for r in rows],
        colors=[PALETTE[r["class"] % len(PALETTE)] for r in rows],
        width=width,
    )
    return Image.fromarray(out.permute(1, 2, 0).numpy())


@torch.inference_mode()
def _detect(run: LoadedRun, batch: list[Prepared]) -> list[dict[str, torch.Tensor]]:
    images = [p.x.to(run.device) for p in batch]
    with autocast(run.device, run.config.precision):
        outputs = run.model(images)
    return from_model(outputs)


def _prepare(item: Found, size: int, outcome: PredictOutcome) -> Prepared | None:
    try:
        image = read_image(item.path)
    except ValueError as exc:
        outcome.skipped.append((str(item.path), str(exc)))
        return None
    x, box = network_input(image, size)
    return Prepared(item, image, x, box)


def predict_detections(
    run: LoadedRun,
    found: list[Found],
    out_dir: Path,
    *,
    conf: float = DEFAULT_CONF,
    max_det: int = DEFAULT_MAX_DET,
    batch_size: int = 32,
    out_key: str = "--out",
    renumber: bool = False,
) -> PredictOutcome:
    """Detect objects in every file of `found`; write `predictions.json` and one
    `<name>_boxes.png` per image into `out_dir` (a new folder) atomically.

    `outcome.rows` holds the predictions.json entries. Raises UserError (nothing written) when
    no file could be read, OutputFailed when writing failed (nothing written either).
    """
    check_limits(conf, max_det)
    outcome = PredictOutcome(out_dir=out_dir)
    size = int(run.data.image_size or 0)
    names = run.class_names
    model = run.model
    model.eval()
    set_limits(model, conf, max_det)
    used: set[str] = set()
    with staged_dir(out_dir, out_key, renumber=renumber) as staged:
        for start in range(0, len(found), batch_size):
            batch = [
                p
                for p in (_prepare(i, size, outcome) for i in found[start : start + batch_size])
                if p is not None
            ]
            if not batch:
                continue
            for prepared, output in zip(batch, _detect(run, batch), strict=True):
                rows = detections(
                    output,
                    prepared.box,
                    prepared.image.size,
                    conf=conf,
                    max_det=max_det,
                    class_names=names,
                )
                stem = _output_stem(prepared.item.name, used)
                picture = staged.tmp / f"{stem}_boxes.png"
                picture.parent.mkdir(parents=True, exist_ok=True)
                drawn(prepared.image, rows).save(picture)
                outcome.rows += [{"file": str(prepared.item.path), **row} for row in rows]
                outcome.done += 1
        if outcome.done == 0:
            first = outcome.skipped[0] if outcome.skipped else ("?", "?")
            raise UserError(
                f"IMAGE_OR_FOLDER: none of the {len(found)} file(s) could be read as an image "
                f"(e.g. '{first[0]}': {first[1]})"
            )
        text = json_lines(outcome.rows)
        (staged.tmp / "predictions.json").write_text(text, encoding="utf-8")
        if outcome.skipped:
            rows = [{"file": f, "reason": r} for f, r in outcome.skipped]
            _write_csv(staged.tmp / "skipped.csv", rows)
    outcome.out_dir = staged.final
    return outcome


def summary_lines(outcome: PredictOutcome, found: list[Found]) -> list[str]:
    """One terminal line per predicted image: `file  3 box(es): ellipse 0.91, ...`."""
    by_file: dict[str, list[dict[str, Any]]] = {}
    for row in outcome.rows:
        by_file.setdefault(str(row["file"]), []).append(row)
    skipped = {f for f, _ in outcome.skipped}
    lines = []
    for item in found:
        file = str(item.path)
        if file in skipped:
            continue
        rows = by_file.get(file, [])
        best = ", ".join(f"{r['name']} {r['score']:.2f}" for r in rows[:5])
        more = f", +{len(rows) - 5} more" if len(rows) > 5 else ""
        lines.append(f"{file}  {len(rows)} box(es){': ' + best + more if rows else ''}")
    return lines
