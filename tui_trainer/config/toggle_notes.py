"""One line per training toggle that is on, as `check`, the setup screen and the run log say it.

Pure config (no torch): the engine's clip, EMA, early-stop, mixing and speed modules do the work;
this only describes what the resolved config asks of them.
"""

from __future__ import annotations

from tui_trainer.config.schema import RunConfig


def toggle_notes(config: RunConfig) -> list[str]:
    """What clipping, early stopping, EMA, Mixup/CutMix and the speed toggles will do."""
    notes: list[str] = []
    o = config.optim
    if o.clip_grad_norm is not None:
        kind = "" if o.clip_norm_type == 2.0 else f" ({o.clip_norm_type:g}-norm)"
        fp16 = ", unscaled first under fp16" if config.precision == "fp16" else ""
        notes.append(f"gradients clipped to total norm {o.clip_grad_norm:g}{kind}{fp16}")
    if o.clip_grad_value is not None:
        notes.append(f"gradients clamped to ±{o.clip_grad_value:g} element-wise")
    es = config.early_stop
    if es.patience is not None:
        metric, mode = config.monitor()
        delta = f" by more than {es.min_delta:g}" if es.min_delta else ""
        better = "rise" if mode == "max" else "fall"
        notes.append(
            f"early stop after {es.patience} epoch(s) in which {metric} does not {better}{delta}"
        )
    if config.ema.enabled:
        e = config.ema
        warm = f", warm-up {e.warmup_steps} steps" if e.warmup_steps else ""
        notes.append(f"EMA weights (decay {e.decay:g}{warm}) for validation and best.pt")
    aug = config.data.augment
    for name, mix in (("mixup", aug.mixup), ("cutmix", aug.cutmix)):
        if mix.prob:
            notes.append(f"{name} α={mix.alpha:g} on {mix.prob:.0%} of training batches")
    speed = [
        name
        for name, on in (
            (f"compile ({config.compile_mode})", config.compile),
            ("channels_last", config.channels_last),
            ("tf32", config.tf32),
            ("cudnn_benchmark", config.cudnn_benchmark),
        )
        if on
    ]
    if speed:
        notes.append("speed: " + ", ".join(speed))
    return notes
