"""`tui-trainer export`: TorchScript (always) or ONNX (extra `tui-trainer[onnx]`) + preprocessing.

The model is exported on the CPU in fp32 with a dynamic batch dimension. Before anything is
written, the exported model runs on a batch of validation inputs and its outputs are compared
with PyTorch's; the preprocessing (size, mean, std, class names, task, input shape) is written
beside the model as JSON, so the file is usable without tui-trainer.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import json
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from tui_trainer import __version__
from tui_trainer.after.loading import LoadedRun
from tui_trainer.after.outputs import remove_empty, writable_file, write_files
from tui_trainer.errors import UserError

FORMATS = ("torchscript", "onnx")
SUFFIX = {"torchscript": ".torchscript.pt", "onnx": ".onnx"}
ONNX_PACKAGES = ("onnx", "onnxruntime", "onnxscript")
SAMPLE_MAX = 4  # validation samples in the check batch
ATOL, RTOL = 1e-4, 1e-3


class ExportMismatch(Exception):
    """The exported model's outputs differ from PyTorch's beyond the tolerance (exit 1)."""

    exit_code = 1


@dataclass(frozen=True)
class ExportResult:
    """Where the model and its preprocessing went, and how closely the outputs matched."""

    model_file: Path
    preprocessing_file: Path
    max_abs_diff: float
    samples: int
    seconds: float


def missing_onnx_packages() -> list[str]:
    """The packages of the `onnx` extra that are not installed."""
    return [name for name in ONNX_PACKAGES if importlib.util.find_spec(name) is None]


def require_onnx() -> None:
    """The one-line error for a missing ONNX extra (nothing else is loaded first)."""
    missing = missing_onnx_packages()
    if missing:
        raise UserError(
            f"--format onnx: needs the optional extra (missing {', '.join(missing)}): "
            "pip install 'tui-trainer[onnx]'"
        )


def sample_batch(run: LoadedRun) -> torch.Tensor:
    """Up to SAMPLE_MAX validation inputs (already preprocessed), on the CPU."""
    run.data.val.set_epoch(0)
    for x, _y in run.data.val.iterate(0):
        batch = x[:SAMPLE_MAX].detach().float().cpu()
        if batch.shape[0] == 1:  # a batch of 2+ keeps the exported batch dimension dynamic
            batch = torch.cat([batch, batch])
        return batch
    raise UserError(f"data: {run.config.data.name} has no validation samples to check against")


def _torchscript(model: nn.Module, sample: torch.Tensor) -> bytes:
    """The traced model as bytes: serialised in memory, so a full disk cannot abort the
    process inside torch's C++ writer (it terminates instead of raising)."""
    with warnings.catch_warnings():  # torch.jit is deprecated upstream but still supported
        warnings.simplefilter("ignore", FutureWarning)
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        traced = torch.jit.trace(model, sample, check_trace=False)
        buffer = io.BytesIO()
        torch.jit.save(traced, buffer)
        return buffer.getvalue()


def _run_torchscript(blob: bytes, x: torch.Tensor) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        loaded = torch.jit.load(io.BytesIO(blob), map_location="cpu")
        with torch.inference_mode():
            return loaded(x).float().numpy()


def _onnx(model: nn.Module, sample: torch.Tensor) -> bytes:
    """The ONNX model as bytes (weights inside: the models here are far below protobuf's 2 GB)."""
    batch = torch.export.Dim("batch", min=1)
    quiet = io.StringIO()
    with (
        warnings.catch_warnings(),
        contextlib.redirect_stdout(quiet),
    ):
        warnings.simplefilter("ignore")
        program = torch.onnx.export(
            model,
            (sample,),
            dynamo=True,
            input_names=["input"],
            output_names=["output"],
            dynamic_shapes=({0: batch},),
            verbose=False,
        )
        if program is None:  # only the legacy exporter (dynamo=False) returns None
            raise RuntimeError("torch.onnx.export returned no ONNX program")
        return program.model_proto.SerializeToString()


def _run_onnx(blob: bytes, x: torch.Tensor) -> np.ndarray:
    import onnxruntime

    session = onnxruntime.InferenceSession(blob, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    return session.run(None, {name: x.numpy()})[0]


def preprocessing(run: LoadedRun, fmt: str, model_file: Path, check: dict[str, Any]) -> dict:
    """The JSON written beside the model: everything needed to feed it and read its output."""
    spec = run.input_spec
    segmentation = run.config.task == "segmentation"
    channels_out = 1 if segmentation and run.data.num_classes == 2 else run.data.num_classes
    if segmentation:
        output = (
            f"logits (N, {channels_out}, H, W): foreground where logit > 0"
            if channels_out == 1
            else f"logits (N, {channels_out}, H, W): argmax over channels = class index"
        )
    else:
        output = f"logits (N, {channels_out}): softmax for probabilities, argmax = class index"
    return {
        "format": fmt,
        "model_file": model_file.name,
        "task": run.config.task,
        "class_names": run.class_names,
        "num_classes": run.data.num_classes,
        **spec.describe(),
        "output": output,
        **provenance(run, check),
    }


def provenance(run: LoadedRun, check: dict[str, Any], exporter: str = "") -> dict[str, Any]:
    """The sidecar's last keys, alike for every task: where the model came from, the check
    made before writing, who exported it (`exporter`: e.g. the ONNX opset) and when."""
    return {
        "source": {
            "run_dir": str(run.run_dir),
            "checkpoint": str(run.checkpoint),
            "model": run.config.model.name,
            "data": run.config.data.name,
        },
        "check": check,
        "exported_by": f"tui-trainer {__version__}, torch {torch.__version__}{exporter}",
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


def default_output(run: LoadedRun, fmt: str) -> Path:
    """`RUN_DIR/export/<checkpoint>.<ext>`, suffixed -2, -3 ... so nothing is replaced."""
    stem = run.checkpoint.stem
    folder = run.run_dir / "export"
    path, n = folder / f"{stem}{SUFFIX[fmt]}", 1
    while path.exists() or json_beside(path).exists():
        n += 1
        path = folder / f"{stem}-{n}{SUFFIX[fmt]}"
    return path


def json_beside(path: Path) -> Path:
    """The preprocessing JSON beside a model file, named after it: `best.onnx.json`."""
    return path.with_name(f"{path.name}.json")


@dataclass(frozen=True)
class Checked:
    """An exported model, checked against PyTorch in memory: what to write and how it did."""

    blob: bytes  # the model file's bytes
    sidecar: dict[str, Any]  # the JSON written beside it
    max_abs_diff: float
    samples: int


def export_checked(
    run: LoadedRun, fmt: str, out: Path | None, make: Callable[[Path], Checked]
) -> ExportResult:
    """The frame every exporter shares: choose the target (never replacing a file), check it
    and its JSON can be written, `make(target)` the checked model in memory, then write both
    beside their places and rename them into place: the model and its JSON appear together or
    not at all (nothing on any failure, a full disk included)."""
    if fmt == "onnx":
        require_onnx()
    target = out if out is not None else default_output(run, fmt)
    meta = json_beside(target)
    created = writable_file(target, "--out")
    writable_file(meta, "--out")
    try:
        t0 = time.monotonic()
        checked = make(target)
        text = json.dumps(checked.sidecar, indent=2) + "\n"
        write_files([(target, checked.blob), (meta, text.encode("utf-8"))], "--out")
        seconds = time.monotonic() - t0
        return ExportResult(target, meta, checked.max_abs_diff, checked.samples, seconds)
    except BaseException:
        remove_empty(created)  # an export/ folder made for this export, left empty
        raise


def export_model(run: LoadedRun, fmt: str, out: Path | None) -> ExportResult:
    """Export a classifier or segmenter as `fmt`, checked against PyTorch (`export_checked`)."""
    if fmt not in FORMATS:
        raise UserError(f"--format: expected one of {', '.join(FORMATS)}, got {fmt!r}")
    return export_checked(run, fmt, out, lambda target: _checked(run, fmt, target))


def _checked(run: LoadedRun, fmt: str, target: Path) -> Checked:
    model = run.model.to("cpu").float().eval()
    sample = sample_batch(run)
    with torch.inference_mode():
        expected = model(sample).float().numpy()
    try:
        blob = (_torchscript if fmt == "torchscript" else _onnx)(model, sample)
    except Exception as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ExportMismatch(f"export to {fmt} failed: {type(exc).__name__}: {first}") from None
    run_exported = _run_torchscript if fmt == "torchscript" else _run_onnx
    got = run_exported(blob, sample)
    single = run_exported(blob, sample[:1])
    diff = float(np.abs(got - expected).max()) if got.shape == expected.shape else float("inf")
    diff = max(diff, float(np.abs(single - expected[:1]).max()))
    if not np.allclose(got, expected, atol=ATOL, rtol=RTOL) or not np.allclose(
        single, expected[:1], atol=ATOL, rtol=RTOL
    ):
        raise ExportMismatch(
            f"the {fmt} model's outputs differ from PyTorch's: max |diff| {diff:.3g} "
            f"(tolerance {ATOL:g} + {RTOL:g}·|y|); nothing written"
        )
    check = {
        "samples": int(sample.shape[0]),
        "max_abs_diff": diff,
        "atol": ATOL,
        "rtol": RTOL,
        "batch_sizes_checked": [int(sample.shape[0]), 1],
    }
    sidecar = preprocessing(run, fmt, target, check)
    return Checked(blob, sidecar, diff, int(sample.shape[0]))
