"""Small, pure formatters for durations, ETAs, rates and sizes: the TUI and the console sink."""

from __future__ import annotations

import math
from collections.abc import Sequence


def duration(seconds: float | None, *, compact: bool = False) -> str:
    """tqdm-style clock: ``MM:SS`` below an hour, ``H:MM:SS`` above; ``?`` when unknown.

    `compact` (plain console lines): ``M:SS``, rounded to the second, negative shown as 0.
    """
    if compact:
        seconds = max(0, round(seconds or 0))
    elif seconds is None or not math.isfinite(seconds) or seconds < 0:
        return "?"
    whole = int(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}:{minutes:02d}:{secs:02d}"
    return f"{minutes}:{secs:02d}" if compact else f"{minutes:02d}:{secs:02d}"


def text_table(lines: Sequence[Sequence[str]]) -> str:
    """Rows of cells as left-aligned columns two spaces apart (the first row is the header);
    trailing spaces are dropped. The plain-text tables of `runs` and `compare`."""
    widths = [max(len(line[i]) for line in lines) for i in range(len(lines[0]))] if lines else []
    return "\n".join(
        "  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)).rstrip()
        for line in lines
    )


def eta_from_share(elapsed: float, done: float, total: float) -> float:
    """Remaining seconds when `done` of `total` units took `elapsed` seconds (0 when unknown)."""
    if done <= 0 or total <= 0:
        return 0.0
    return elapsed * (total - done) / done


def run_eta(
    epoch: int, step: int, steps: int, epochs: int, start_epoch: int, elapsed: float
) -> float:
    """Remaining seconds of a run from the share of this process's epochs done so far.

    `epoch` is 1-based, `step` micro-batches done of `steps`; `start_epoch` epochs were done by
    an earlier process (a resume), so they do not count towards this one's rate.
    """
    done = (epoch - 1 - start_epoch) + step / max(steps, 1)
    return eta_from_share(elapsed, done, epochs - start_epoch)


def metrics_line(metrics: dict[str, float]) -> str:
    """``train_loss 0.1234  val_accuracy 0.9750 ...`` without the bookkeeping keys."""
    parts = []
    for key, value in metrics.items():
        if key in {"epoch", "epoch_seconds"}:
            continue
        parts.append(f"{key} {value:.4g}" if key == "lr" else f"{key} {value:.4f}")
    return "  ".join(parts)


NO_RATE = "–"
"""Shown instead of a rate until the engine has a meaningful window (see `engine.rate`)."""


def rate(per_second: float | None, unit: str = "it") -> str:
    """tqdm-style rate: ``12.3it/s``, or ``2.50s/it`` when slower than one per second.

    ``–it/s`` while there is no rate yet (the engine's `RateMeter` says None).
    """
    if per_second is None or not math.isfinite(per_second) or per_second <= 0:
        return f"{NO_RATE}{unit}/s"
    if per_second < 1:
        return f"{1 / per_second:.2f}s/{unit}"
    return f"{per_second:.1f}{unit}/s" if per_second < 100 else f"{per_second:,.0f}{unit}/s"


def samples_rate(per_second: float | None) -> str:
    """Training samples per second: ``118 samples/s``, ``12.3k samples/s``, ``– samples/s``."""
    if per_second is None or not math.isfinite(per_second) or per_second <= 0:
        return f"{NO_RATE} samples/s"
    return f"{count(per_second)} samples/s"


def speed(steps_per_second: float | None, samples_per_second: float | None) -> str:
    """Both rates, as every front end shows them: ``38.2it/s, 1.22k samples/s``."""
    return f"{rate(steps_per_second)}, {samples_rate(samples_per_second)}"


def epoch_eta(step: int, steps: int, steps_per_second: float | None) -> float | None:
    """Seconds left in the epoch at the smoothed rate; None while there is no rate."""
    if not steps_per_second or steps_per_second <= 0 or not math.isfinite(steps_per_second):
        return None
    return max(0, steps - step) / steps_per_second


def pass_rate(done: int, seconds: float) -> float | None:
    """Batches per second of a pass so far (a validation pass's mean); None before any."""
    if done <= 0 or not math.isfinite(seconds) or seconds <= 0:
        return None
    return done / seconds


def count(value: float | None) -> str:
    """A compact count: ``950``, ``12.3k``, ``4.56M``."""
    if value is None or not math.isfinite(value):
        return "?"
    for limit, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= limit:
            return f"{value / limit:.3g}{suffix}"
    return f"{value:.0f}"


def lr(value: float | None) -> str:
    """A learning rate: scientific notation, three significant digits."""
    if value is None:
        return "-"
    return f"{value:.2e}"


def loss(value: float | None) -> str:
    """A loss value with four decimals (or ``nan``/``inf`` as they are)."""
    if value is None:
        return "-"
    return f"{value:.4f}"


def metric(name: str, value: float | None) -> str:
    """A task metric: accuracies as percentages, everything else with four decimals."""
    if value is None:
        return "-"
    if is_percent(name, [value]):
        return f"{value * 100:.2f}%"
    return f"{value:.4f}"


def is_percent(name: str, values: list[float]) -> bool:
    """Whether a metric's values read as percentages (accuracies between 0 and 1)."""
    return "acc" in name and all(0.0 <= v <= 1.0 for v in values)


METRIC_WORDS = {
    "accuracy": "acc",
    "learning_rate": "lr",
    "map": "mAP",
    "map50": "mAP50",
    "map75": "mAP75",
}
"""Words of metric keys written shorter (or as people write them) in labels."""


def metric_label(name: str) -> str:
    """A short column label for a metric key: ``val_accuracy`` → ``val acc``, ``val_map50`` →
    ``val mAP50``."""
    parts = [METRIC_WORDS.get(p, p) for p in name.split("_")]
    return " ".join(parts)


LOSS_PARTS = {
    "classification": "cls",
    "classifier": "cls",
    "bbox_regression": "box",
    "box_reg": "box",
    "bbox_ctrness": "ctr",
    "objectness": "obj",
    "rpn_box_reg": "rpn",
}
"""Short names of detectors' loss parts (torchvision's FCOS, RetinaNet, SSD, Faster R-CNN)."""


def loss_part_label(name: str) -> str:
    """A detector's loss part as a plot legend names it: ``bbox_regression`` → ``box``,
    ``loss_objectness`` → ``obj``; a part not known here keeps its first five characters."""
    part = name.removeprefix("loss_")
    return LOSS_PARTS.get(part, part[:5])


def plain_value(value: object) -> str:
    """A config value as a user would type it in an override (``None`` → empty)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return format(value, "g")
    if isinstance(value, (list, tuple)):
        return ",".join(plain_value(v) for v in value)
    return str(value)


PATH_BREAKS = ("/\\", "-_.:")
"""Where a word longer than a line may break, best first: path separators, then joiners."""


def wrap_text(text: str, width: int) -> list[str]:
    """`text` as lines of at most `width` characters, for paths and commands in narrow panes.

    Breaks between words; a word longer than a line (a path, a URL) breaks after a path
    separator, else after ``-_.:``, and mid-word only when a piece has none of them. Lines keep
    their own line breaks. ``width < 1`` returns the text's lines as they are.
    """
    if width < 1:
        return text.split("\n")
    lines: list[str] = []
    for paragraph in text.split("\n"):
        lines += _wrap_line(paragraph, width)
    return lines


def _wrap_line(text: str, width: int) -> list[str]:
    lines: list[str] = []
    line = ""
    for word in text.split(" "):
        joined = f"{line} {word}" if line else word
        if len(joined) <= width:
            line = joined
        elif len(word) <= width:  # the word moves to the next line whole
            lines.append(line)
            line = word
        else:  # longer than a line: on lines of its own, broken at separators
            if line:
                lines.append(line)
                line = ""
            for atom in _atoms(word, width):
                if len(line) + len(atom) > width and line.strip():
                    lines.append(line.rstrip())
                    line = ""
                line += atom
    lines.append(line)
    return lines


def _atoms(word: str, width: int, level: int = 0) -> list[str]:
    """`word` cut after its break characters (`PATH_BREAKS[level]`, then the next level for a
    piece still longer than `width`), and mid-word only as a last resort."""
    if len(word) <= width:
        return [word]
    if level == len(PATH_BREAKS):
        return [word[i : i + width] for i in range(0, len(word), width)]
    parts, start = [], 0
    for i, char in enumerate(word):
        if char in PATH_BREAKS[level]:
            parts.append(word[start : i + 1])
            start = i + 1
    if start < len(word):
        parts.append(word[start:])
    return [atom for part in parts for atom in _atoms(part, width, level + 1)]
