"""What may change when a run is resumed, checked before anything is built or written.

A checkpoint's optimizer state belongs to one optimizer and one layout of parameter groups
(the freeze plan). Changing those on resume cannot load, so it is refused with one line naming
the key (exit 2). Everything else may change: the learning rate and the schedule's knobs (the LR
is computed from progress at every step), `optim.weight_decay`, `momentum`, `nesterov` and
`betas` (re-applied over the restored state: see `apply_optim_hyperparams`), batch sizes and
process counts (the position in the epoch is converted), `epochs` (more or fewer, as long as
some are left).
"""

from __future__ import annotations

from typing import Any

import torch

from tui_trainer.config.schema import RunConfig
from tui_trainer.errors import UserError


def _get(config: dict[str, Any], dotted: str) -> Any:
    node: Any = config
    for part in dotted.split("."):
        if not isinstance(node, dict):
            return None
        node = node.get(part)
    return node


def _refuse(key: str, saved: Any, now: Any, why: str) -> UserError:
    return UserError(
        f"--resume: {key} cannot change on resume (the checkpoint has {key}={saved}, now "
        f"{now}): {why}; resume with {key}={saved}, or start a new run"
    )


def frozen_phase_at(config: RunConfig, epoch: int) -> bool:
    """Whether `config`'s freeze plan keeps the backbone frozen during 0-based `epoch`."""
    fz = config.freeze
    return fz.enabled and (fz.epochs is None or epoch < fz.epochs)


def check_resumable(state: dict[str, Any], config: RunConfig, where: str) -> None:
    """Refuse (UserError) a resume of checkpoint `state` that `config` cannot continue.

    `where` names the run for the messages (its directory or checkpoint path).
    """
    saved = state.get("config")
    progress = state["progress"]
    done = int(progress["epoch"])
    total = steered_epochs(state, config)
    if int(progress.get("batch", 0)) == 0 and done >= total:
        finished = done == (saved or {}).get("epochs", done)
        raise UserError(
            f"--resume: {where} "
            + ("has finished" if finished else "has already trained")
            + f" its {done} epoch(s) (epochs={total}); nothing to do. To train further, "
            f"resume with more epochs: tui-trainer run --resume {where} epochs={done + 10}"
        )
    if not isinstance(saved, dict):
        return  # an old checkpoint without its config: the state loads or fails by itself
    now = config.model_dump(mode="json")
    for key, why in (
        ("task", "the model and its head belong to the task"),
        ("optim.name", "the saved optimizer state (momentum, moments) belongs to that optimizer"),
    ):
        if _get(saved, key) != _get(now, key):
            raise _refuse(key, _get(saved, key), _get(now, key), why)
    if _get(saved, "freeze.enabled") or config.freeze.enabled:
        why = "the optimizer's parameter groups follow the freeze plan"
        for key in ("freeze.enabled", "freeze.patterns"):
            if _get(saved, key) != _get(now, key):
                raise _refuse(key, _get(saved, key), _get(now, key), why)
        saved_epochs, new_epochs = _get(saved, "freeze.epochs"), config.freeze.epochs
        saved_frozen = state.get("phase", "frozen") == "frozen"
        steered = (state.get("steer") or {}).get("unfrozen_epoch") is not None
        if steered:  # steering unfroze them: the checkpoint holds that, whatever the plan says
            return
        if (saved_epochs is None) != (new_epochs is None) or (
            frozen_phase_at(config, done) != saved_frozen
        ):
            phase = "frozen" if saved_frozen else "unfrozen"
            raise _refuse(
                "freeze.epochs",
                saved_epochs,
                new_epochs,
                f"the checkpoint was saved in the {phase} phase at epoch {done + 1}, and the new "
                "value would put that epoch in the other phase",
            )


def steered_epochs(state: dict[str, Any], config: RunConfig) -> int:
    """The run's length on resume: a steered one (the checkpoint's schedule) unless the
    config's `epochs` differs from the length the checkpoint's schedule was laid out on."""
    schedule = state.get("schedule") or {}
    if int(schedule.get("base_epochs", -1)) == config.epochs and "epochs" in schedule:
        return int(schedule["epochs"])
    return config.epochs


def apply_optim_hyperparams(optimizer: torch.optim.Optimizer, config: RunConfig) -> None:
    """Re-apply the config's optimizer knobs after `load_state_dict` restored the saved ones."""
    o = config.optim
    for group in optimizer.param_groups:
        group["weight_decay"] = o.weight_decay
        if o.name == "sgd":
            group["momentum"] = o.momentum
            group["nesterov"] = o.nesterov and o.momentum > 0
        else:
            group["betas"] = tuple(o.betas)
