"""Arguments and dispatch of `eval`, `predict` and `export` (imports nothing heavy at the top)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

COMMANDS = ("eval", "predict", "export")
CHECKPOINT_HELP = "best (default), last, or a checkpoint file"


def configure(p: argparse.ArgumentParser, command: str) -> None:
    """Add `command`'s arguments to its parser."""
    p.add_argument("run_dir", metavar="RUN_DIR", help="a run directory (holds config.yaml)")
    p.add_argument("--checkpoint", default="best", help=CHECKPOINT_HELP)
    if command == "eval":
        p.description = (
            "Metrics of a checkpoint on the run's validation split (or other data given by "
            "overrides); writes RUN_DIR/eval/<timestamp>/eval.json."
        )
        p.add_argument(
            "overrides", nargs="*", help="dotted overrides, e.g. data.root=other/ device=cpu"
        )
        p.add_argument("--json", action="store_true", help="print eval.json instead of the report")
    elif command == "predict":
        p.description = (
            "Predictions for image files and folders; classification prints the top-k classes "
            "and writes predictions.csv, segmentation writes mask and overlay PNGs."
        )
        p.add_argument(
            "inputs",
            nargs="+",
            metavar="IMAGE_OR_FOLDER",
            help="image files and folders (walked; hidden entries skipped); key=value items "
            "that are not files are config overrides such as device=cpu",
        )
        p.add_argument("--top-k", type=int, default=3, help="classes per image (default 3)")
        p.add_argument("--out", help="a new folder for the results (default RUN_DIR/predict/<ts>)")
        p.add_argument("--batch-size", type=int, default=32, help="images per forward pass")
    else:
        p.description = (
            "Export the model (CPU, fp32, dynamic batch) with its preprocessing JSON; outputs "
            "are checked against PyTorch first."
        )
        p.add_argument("--format", required=True, choices=("torchscript", "onnx"))
        p.add_argument("--out", help="model file (default RUN_DIR/export/<checkpoint>.<ext>)")
        p.add_argument("overrides", nargs="*", help="dotted overrides, e.g. device=cpu")


def _split_inputs(items: list[str]) -> tuple[list[str], list[str]]:
    """Paths, and `key=value` overrides (items with '=' that are not existing paths)."""
    inputs, overrides = [], []
    for item in items:
        is_override = "=" in item and not Path(item).exists() and "/" not in item.partition("=")[0]
        (overrides if is_override else inputs).append(item)
    return inputs, overrides


def run(command: str, args: argparse.Namespace) -> int:
    """Run one of COMMANDS with parsed arguments; returns the exit code.

    Results that could not be written (a full disk) are one error line and exit 1; nothing
    of them is left behind.
    """
    from tui_trainer.after.outputs import OutputFailed

    try:
        return _run(command, args)
    except OutputFailed as exc:
        print(f"tui-trainer: error: {exc}", file=sys.stderr)
        return exc.exit_code


def _run(command: str, args: argparse.Namespace) -> int:
    if command == "eval":
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
    if command == "predict":
        from tui_trainer.after.predict import predict_command

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
        )
    from tui_trainer.after.export import export_command

    return export_command(
        args.run_dir,
        args.format,
        out=args.out,
        checkpoint=args.checkpoint,
        overrides=args.overrides,
    )
