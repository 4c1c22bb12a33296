"""`tui-trainer export` for a detection run: the detector with its post-processing inside.

The exported graph takes ONE letterboxed image, float32 (3, S, S) in [0, 1] (RGB, not
normalised: the detector normalises inside), and returns `boxes` (K, 4) xyxy in network
pixels, `scores` (K,) and `labels` (K,) int64 with 0 = background, so class index =
label - 1. Decoding, the score threshold, NMS and the detections cap are in the graph; K
varies per image. The JSON beside the model says all of this, with the numbers.

TorchScript: `torch.jit.script` of the detector (a scripted torchvision detector returns
`(losses, detections)`; the wrapper keeps the detections). ONNX: torch's TorchScript-based
exporter (`dynamo=False`, opset 17): the dynamo exporter (`torch.export`) cannot export
torchvision's detection post-processing, whose box count depends on the data (it stops on a
data-dependent guard in `batched_nms`).

Before anything is written, the exported model runs on up to four validation images and its
detections are compared with PyTorch's: same count, same labels, boxes and scores within
tolerance; a mismatch writes nothing (exit 1).
"""

from __future__ import annotations

import contextlib
import io
import warnings
from typing import Any

import numpy as np
import torch
from torch import nn

from tui_trainer.after.export import (
    SAMPLE_MAX,
    Checked,
    ExportMismatch,
    ExportResult,
    export_checked,
    provenance,
)
from tui_trainer.after.loading import LoadedRun
from tui_trainer.errors import UserError

OPSET = 17  # torchvision's detection ops export from opset 11; 17 is what onnxruntime runs best
BOX_ATOL, SCORE_ATOL = 1e-2, 1e-4  # pixels, score units
OUTPUT_NAMES = ["boxes", "scores", "labels"]
Detections = tuple[np.ndarray, np.ndarray, np.ndarray]


class TracedDetector(nn.Module):
    """One image in, (boxes, scores, labels) out: the eager form the ONNX exporter traces."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The detector's eval output for `image` (3, S, S)."""
        found = self.model([image])[0]
        return found["boxes"], found["scores"], found["labels"]


class ScriptedDetector(nn.Module):
    """The same for `torch.jit.script` (a scripted detector returns (losses, detections))."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The detector's eval output for `image` (3, S, S)."""
        _losses, detections = self.model([image])
        found = detections[0]
        return found["boxes"], found["scores"], found["labels"]


def check_images(run: LoadedRun) -> list[torch.Tensor]:
    """Up to SAMPLE_MAX validation images (letterboxed, in [0, 1]) on the CPU."""
    run.data.val.set_epoch(0)
    for x, _targets in run.data.val.iterate(0):
        return [image.detach().float().cpu() for image in x[:SAMPLE_MAX]]
    raise UserError(f"data: {run.config.data.name} has no validation samples to check against")


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def torchscript_bytes(model: nn.Module) -> bytes:
    """The scripted detector, serialised in memory (a full disk cannot abort torch's writer)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        scripted = torch.jit.script(ScriptedDetector(model).eval())
        buffer = io.BytesIO()
        torch.jit.save(scripted, buffer)
        return buffer.getvalue()


def onnx_bytes(model: nn.Module, image: torch.Tensor) -> bytes:
    """The ONNX detector (TorchScript-based exporter, opset OPSET) as bytes."""
    buffer = io.BytesIO()
    wrapper = TracedDetector(model).eval()
    dynamic = {name: {0: "detections"} for name in OUTPUT_NAMES}
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        torch.onnx.export(
            wrapper,
            (image,),
            buffer,  # type: ignore[arg-type]  # the TorchScript-based exporter writes file objects
            dynamo=False,
            opset_version=OPSET,
            input_names=["image"],
            output_names=OUTPUT_NAMES,
            dynamic_axes=dynamic,
        )
    model.eval()
    return buffer.getvalue()


def run_torchscript(blob: bytes, images: list[torch.Tensor]) -> list[Detections]:
    """The exported TorchScript model's detections for each image."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        loaded = torch.jit.load(io.BytesIO(blob), map_location="cpu")
        with torch.inference_mode():
            outs = [loaded(image) for image in images]
    return [(b.float().numpy(), s.float().numpy(), lab.numpy()) for b, s, lab in outs]


def run_onnx(blob: bytes, images: list[torch.Tensor]) -> list[Detections]:
    """The exported ONNX model's detections for each image (onnxruntime, CPU)."""
    import onnxruntime

    session = onnxruntime.InferenceSession(blob, providers=["CPUExecutionProvider"])
    outs = [session.run(None, {"image": image.numpy()}) for image in images]
    return [(b, s, lab) for b, s, lab in outs]


@torch.inference_mode()
def run_pytorch(model: nn.Module, images: list[torch.Tensor]) -> list[Detections]:
    """PyTorch's detections for each image, one at a time (as the exported graph runs)."""
    outs = [model([image])[0] for image in images]
    return [
        (o["boxes"].float().numpy(), o["scores"].float().numpy(), o["labels"].numpy()) for o in outs
    ]


def _unmatched(got: Detections, expected: Detections) -> tuple[int, float]:
    """How many of `expected`'s detections have no partner in `got` (same label, score and box
    within tolerance; each used once), and the largest box difference of the matched ones.

    Detections at the lowest expected score are not required: the detections cap may cut
    through equal scores and keep either."""
    gb, gs, gl = got
    eb, es, el = expected
    used = np.zeros(len(gs), dtype=bool)
    missing, worst = 0, 0.0
    floor = es.min() + SCORE_ATOL if len(es) else 0.0
    for box, score, label in zip(eb, es, el, strict=True):
        if score <= floor:
            continue
        near = (~used) & (gl == label) & (np.abs(gs - score) <= SCORE_ATOL)
        diffs = np.where(near, np.abs(gb - box).max(axis=1, initial=0.0), np.inf)
        j = int(np.argmin(diffs)) if len(diffs) else -1
        if j < 0 or diffs[j] > BOX_ATOL:
            missing += 1
            continue
        used[j] = True
        worst = max(worst, float(diffs[j]))
    return missing, worst


def compare(got: list[Detections], expected: list[Detections]) -> float:
    """The largest box difference in pixels of matched detections; ExportMismatch when an
    image's count differs or a detection has no partner (label, score, box within tolerance)."""
    worst = 0.0
    for i, (g, e) in enumerate(zip(got, expected, strict=True)):
        if len(g[0]) != len(e[0]):
            raise ExportMismatch(
                f"the exported model finds {len(g[0])} box(es) in validation image {i}, "
                f"PyTorch {len(e[0])}; nothing written"
            )
        missing, diff = _unmatched(g, e)
        worst = max(worst, diff)
        if missing:
            raise ExportMismatch(
                f"{missing} of PyTorch's {len(e[0])} detections in validation image {i} have no "
                f"match in the exported model's (same label, score within {SCORE_ATOL:g}, box "
                f"within {BOX_ATOL:g} px); nothing written"
            )
    return worst


def _limit(model: nn.Module, name: str) -> Any:
    for holder in (model, getattr(model, "roi_heads", None)):
        value = getattr(holder, name, None)
        if isinstance(value, (int, float)):
            return value
    return None


def sidecar(run: LoadedRun, fmt: str, model_file: str, check: dict[str, Any]) -> dict[str, Any]:
    """The JSON beside the model: its input, outputs, post-processing and how to map boxes back."""
    size = int(run.data.image_size or 0)
    names = run.class_names
    model = run.model
    return {
        "format": fmt,
        "model_file": model_file,
        "task": "detection",
        "class_names": names,
        "num_classes": len(names),
        "image_size": size,
        "input": {
            "name": "image",
            "shape": [3, size, size],
            "dtype": "float32",
            "range": [0.0, 1.0],
            "channels": "RGB, not normalised (the detector normalises inside)",
            "letterbox": (
                f"resize keeping the aspect ratio so the longer side is {size} (scale = "
                f"{size} / max(w, h); resized w' = round(w * scale), h' = round(h * scale)), "
                f"centred on a {size}x{size} grey canvas (114/255): pad_x = ({size} - w') // 2, "
                f"pad_y = ({size} - h') // 2"
            ),
            "batch": "one image per call (no batch dimension)",
        },
        "outputs": {
            "boxes": "float32 (K, 4): x1, y1, x2, y2 in network-input pixels",
            "scores": "float32 (K,): detection confidence, best first",
            "labels": (
                "int64 (K,): 0 = background (never output), so class index = label - 1 "
                "into class_names"
            ),
        },
        "postprocessing": {
            "included": "box decoding, score threshold, per-class NMS, detections cap",
            "score_threshold": _limit(model, "score_thresh"),
            "nms_threshold": _limit(model, "nms_thresh"),
            "max_detections": _limit(model, "detections_per_img"),
        },
        "to_original_pixels": (
            "x = (x_net - pad_x) / scale, y = (y_net - pad_y) / scale, clipped to the image"
        ),
        **provenance(run, check, f", opset {OPSET}" if fmt == "onnx" else ""),
    }


def export_detector(run: LoadedRun, fmt: str, out: Any) -> ExportResult:
    """Export `run`'s detector as `fmt` to `out` (None: RUN_DIR/export/<checkpoint>.<ext>),
    checked against PyTorch first; the model and its JSON appear together or not at all."""
    return export_checked(run, fmt, out, lambda target: _checked(run, fmt, target))


def _checked(run: LoadedRun, fmt: str, target: Any) -> Checked:
    model = run.model.to("cpu").float().eval()
    images = check_images(run)
    expected = run_pytorch(model, images)
    try:
        blob = torchscript_bytes(model) if fmt == "torchscript" else onnx_bytes(model, images[0])
    except Exception as exc:
        hint = (
            " (torch.jit.script compiles the detector's code: a module:Class detector must be "
            "scriptable as torchvision's are; --format onnx traces it instead)"
            if fmt == "torchscript"
            else ""
        )
        raise ExportMismatch(
            f"export to {fmt} failed: {type(exc).__name__}: {_first_line(exc)}{hint}"
        ) from None
    got = (run_torchscript if fmt == "torchscript" else run_onnx)(blob, images)
    diff = compare(got, expected)
    check = {
        "images": len(images),
        "detections": [len(e[0]) for e in expected],
        "max_box_diff_px": diff,
        "box_atol_px": BOX_ATOL,
        "score_atol": SCORE_ATOL,
    }
    return Checked(blob, sidecar(run, fmt, target.name, check), diff, len(images))
