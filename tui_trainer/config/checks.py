"""Checks of a config that need the file system but run nothing (used by `tui-trainer check`)."""

from __future__ import annotations

from pathlib import Path

from tui_trainer.config.code_check import require_code
from tui_trainer.config.datasets import ROOT_DATASETS
from tui_trainer.config.outroot import out_root_problem
from tui_trainer.config.rules import config_warnings
from tui_trainer.config.schema import RunConfig
from tui_trainer.config.tasks import effective_batch, is_weights_file
from tui_trainer.config.toggle_notes import toggle_notes
from tui_trainer.errors import UserError


def missing_here(config: RunConfig) -> list[UserError]:
    """Files and folders the run needs that this machine lacks (each names its key).

    `check` reports them as warnings (the config may be meant for another machine); the console,
    which would run it here, refuses Start with them.
    """
    data = config.data
    missing: list[UserError] = []
    if data.name in ROOT_DATASETS:
        root = Path(data.root or "data")
        if not root.is_dir() and not (data.name == "cifar10" and data.download):
            missing.append(
                UserError(f"folder '{root}' not found here; the run needs it", key="data.root")
            )
    out_problem = out_root_problem(config.out)
    if out_problem:
        missing.append(
            UserError(f"{out_problem}; a run here would refuse it (or give --out DIR)", key="out")
        )
    weights = config.model.weights
    if weights and is_weights_file(weights) and not Path(weights).is_file():
        missing.append(
            UserError(f"file '{weights}' not found here; the run needs it", key="model.weights")
        )
    return missing


def static_checks(config: RunConfig) -> tuple[list[str], list[str]]:
    """Notes worth showing (effective batch, phases) and warnings about paths not found here.

    A missing data root or weights file is a warning, not an error: the config is valid and the
    files may exist on the machine that will run it; the run itself refuses with exit 2.
    """
    data = config.data
    warnings = config_warnings(config)
    require_code(config)  # imports each module:Class (runs its code), calls nothing
    if data.name == "imagefolder" and not data.root:
        raise UserError("data.root: imagefolder needs a folder of class folders")
    warnings += [str(problem) for problem in missing_here(config)]
    notes = [
        f"effective batch size {data.batch_size} × {config.accumulate} = "
        f"{effective_batch(data.batch_size, config.accumulate)}"
    ]
    if config.freeze.enabled:
        phase = f"{config.freeze.epochs} epoch(s)" if config.freeze.epochs else "the whole run"
        batch = config.freeze.batch_size or data.batch_size
        notes.append(f"backbone frozen for {phase} at batch size {batch}")
    notes += toggle_notes(config)
    if config.precision == "fp16":
        notes.append(
            "fp16 runs with autocast + GradScaler on CUDA; elsewhere it falls back to fp32"
        )
    from tui_trainer.cpu_features import precision_note

    precision = precision_note(config.precision, config.device)
    if precision:
        notes.append(precision)
    return notes, warnings
