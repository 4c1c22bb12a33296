"""Arguments and handlers of `eval`, `predict` and `export` (imports nothing heavy at the top).

Each command is a parser builder (`configure_*`) and a handler (`evaluate`, `predict`,
`export`), rows of the command table in `tui_trainer.commands.table`.
"""

from __future__ import annotations

import argparse
import functools
import sys
from collections.abc import Callable
from pathlib import Path

CHECKPOINT_HELP = "best (default), last, or a checkpoint file"

Handler = Callable[[argparse.Namespace], int]


def _run_dir_and_checkpoint(p: argparse.ArgumentParser) -> None:
    p.add_argument("run_dir", metavar="RUN_DIR", help="a run directory (holds config.yaml)")
    p.add_argument("--checkpoint", default="best", help=CHECKPOINT_HELP)


def configure_eval(p: argparse.ArgumentParser) -> None:
    """`eval RUN_DIR [overrides] [--checkpoint C] [--json]`."""
    _run_dir_and_checkpoint(p)
    p.add_argument(
        "overrides", nargs="*", help="dotted overrides, e.g. data.root=other/ device=cpu"
    )
    p.add_argument("--json", action="store_true", help="print eval.json instead of the report")


def configure_predict(p: argparse.ArgumentParser) -> None:
    """`predict RUN_DIR IMAGE_OR_FOLDER... [--top-k K | --conf C --max-det N] [--out DIR]
    [--batch-size N]`."""
    _run_dir_and_checkpoint(p)
    p.add_argument(
        "inputs",
        nargs="+",
        metavar="IMAGE_OR_FOLDER",
        help="image files and folders (walked; hidden entries skipped); key=value items "
        "that are not files are config overrides such as device=cpu",
    )
    p.add_argument(
        "--top-k", type=int, default=None, help="classification: classes per image (default 3)"
    )
    p.add_argument(
        "--conf",
        type=float,
        default=None,
        help="detection: keep boxes scoring at least this, in [0, 1] (default 0.25; 0.001 "
        "for an evaluation-grade dump)",
    )
    p.add_argument(
        "--max-det",
        type=int,
        default=None,
        help="detection: at most this many boxes per image, best first (default 100)",
    )
    p.add_argument("--out", help="a new folder for the results (default RUN_DIR/predict/<ts>)")
    p.add_argument("--batch-size", type=int, default=32, help="images per forward pass")


def configure_export(p: argparse.ArgumentParser) -> None:
    """`export RUN_DIR --format F [--out FILE] [overrides]`."""
    _run_dir_and_checkpoint(p)
    p.add_argument(
        "--format",
        required=True,
        choices=("torchscript", "onnx"),
        help="torchscript or onnx (needs the onnx extra)",
    )
    p.add_argument("--out", help="model file (default RUN_DIR/export/<checkpoint>.<ext>)")
    p.add_argument("overrides", nargs="*", help="dotted overrides, e.g. device=cpu")


def _outputs_or_one_line(handler: Handler) -> Handler:
    """Results that could not be written (a full disk) are one error line and exit 1; nothing
    of them is left behind."""

    @functools.wraps(handler)
    def wrapped(args: argparse.Namespace) -> int:
        from tui_trainer.after.outputs import OutputFailed

        try:
            return handler(args)
        except OutputFailed as exc:
            print(f"tui-trainer: error: {exc}", file=sys.stderr)
            return exc.exit_code

    return wrapped


def _split_inputs(items: list[str]) -> tuple[list[str], list[str]]:
    """Paths, and `key=value` overrides (items with '=' that are not existing paths)."""
    inputs: list[str] = []
    overrides: list[str] = []
    for item in items:
        is_override = "=" in item and not Path(item).exists() and "/" not in item.partition("=")[0]
        (overrides if is_override else inputs).append(item)
    return inputs, overrides


@_outputs_or_one_line
def evaluate(args: argparse.Namespace) -> int:
    """Metrics of a checkpoint; writes RUN_DIR/eval/<timestamp>/eval.json and prints it."""
    from tui_trainer.after.evaluate import evaluate_run, write_eval
    from tui_trainer.after.report import eval_text

    result = evaluate_run(args.run_dir, args.checkpoint, args.overrides)
    folder = write_eval(result)
    if args.json:
        print((folder / "eval.json").read_text(encoding="utf-8"), end="")
    else:
        print(eval_text(result))
        print(f"\nwritten to {folder}", file=sys.stderr)
    return 0


@_outputs_or_one_line
def predict(args: argparse.Namespace) -> int:
    """Predictions for image files and folders."""
    from tui_trainer.after.predict_command import predict_command

    inputs, overrides = _split_inputs(args.inputs)
    if not inputs:
        from tui_trainer.errors import UserError

        raise UserError("IMAGE_OR_FOLDER: give at least one image file or folder")
    return predict_command(
        args.run_dir,
        inputs,
        top_k=args.top_k,
        out=args.out,
        checkpoint=args.checkpoint,
        batch_size=args.batch_size,
        overrides=overrides,
        conf=args.conf,
        max_det=args.max_det,
    )


@_outputs_or_one_line
def export(args: argparse.Namespace) -> int:
    """Export the model with its preprocessing JSON."""
    from tui_trainer.after.export_command import export_command

    return export_command(
        args.run_dir,
        args.format,
        out=args.out,
        checkpoint=args.checkpoint,
        overrides=args.overrides,
    )
