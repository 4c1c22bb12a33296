"""Why `torch.load(weights_only=True)` refused a file, in one line that is safe to act on.

PyTorch's own message advises re-running with `weights_only=False` ("will likely succeed"),
which runs whatever code the file carries: exactly what a crafted checkpoint wants. The text
here never repeats that advice; it names the Python global the file asked for, in full, so a
user can tell a foreign checkpoint (`posix.system`, `builtins.eval`) from an old one.
"""

from __future__ import annotations

import re

_GLOBAL = re.compile(r"GLOBAL (\S+?)(?= was not| whose module|\s|$)")
_UNPICKLER = "WeightsUnpickler error:"
_ADVICE = re.compile(r"weights_only|add_safe_globals|safe_globals|trusted source|file an issue")
_ANSI = re.compile(r"\x1b\[[0-9;]*m")
MAX_CHARS = 300


def load_failure(exc: BaseException) -> str:
    """One line saying why a checkpoint or weights file could not be loaded (no unsafe advice)."""
    text = _ANSI.sub("", str(exc)).strip()
    found = _GLOBAL.search(text)
    if found:
        name = found.group(1).rstrip(".")
        return (
            f"refused: it names the Python global '{name}', which a safe load never imports "
            "or calls (only tensors and plain values load: use checkpoints saved by "
            "tui-trainer, or a state dict saved with torch.save)"
        )
    if isinstance(exc, KeyError | EOFError | IndexError):  # the pickle stream itself is broken
        return f"not a torch.save file, or a damaged one ({type(exc).__name__}: {text[:80]})"
    if _UNPICKLER in text:
        text = text.split(_UNPICKLER, 1)[1]
    sentences = re.split(r"(?<=[.!?])\s+|\n+", text)
    kept = [s.strip() for s in sentences if s.strip() and not _ADVICE.search(s)]
    kept = [s for s in kept if not s.startswith(("Weights only load failed", "In PyTorch 2.6"))]
    reason = kept[0] if kept else type(exc).__name__
    reason = " ".join(reason.split())
    return reason if len(reason) <= MAX_CHARS else reason[: MAX_CHARS - 1] + "…"
