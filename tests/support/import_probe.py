"""Run one `tui-trainer` command in this process and write the modules it had imported as JSON.

    python tests/support/import_probe.py OUT.json [--until REGEX] -- ARGS...

Without --until the module list is taken when the command returns; with it, at the moment the
first stdout line matching REGEX is written (for `run`: the first epoch line), so the list is
what the command needed up to that point. Used by tests/unit/test_import_sets.py.
"""

from __future__ import annotations

import json
import re
import sys
from typing import TextIO


class _Watch:
    """A stdout wrapper that snapshots sys.modules when a line matches."""

    def __init__(self, inner: TextIO, pattern: re.Pattern[str], out: str) -> None:
        self.inner = inner
        self.pattern = pattern
        self.out = out
        self.buffer = ""
        self.done = False

    def write(self, text: str) -> int:
        if not self.done:
            self.buffer += text
            *lines, self.buffer = self.buffer.split("\n")
            if any(self.pattern.search(line) for line in lines):
                self.done = True
                dump(self.out)
        return self.inner.write(text)

    def flush(self) -> None:
        self.inner.flush()

    def isatty(self) -> bool:
        return False

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)


def dump(path: str) -> None:
    """Write the sorted names of every loaded module."""
    with open(path, "w") as f:
        json.dump(sorted(sys.modules), f)


def main() -> int:
    args = sys.argv[1:]
    split = args.index("--")
    head, argv = args[:split], args[split + 1 :]
    out = head[0]
    watch: _Watch | None = None
    if "--until" in head:
        watch = _Watch(sys.stdout, re.compile(head[head.index("--until") + 1]), out)
        sys.stdout = watch  # type: ignore[assignment]
    from tui_trainer.cli import main as cli_main

    try:
        code = cli_main(argv)
    except SystemExit as exc:  # --help
        code = exc.code if isinstance(exc.code, int) else 0
    if watch is None:
        dump(out)
    elif not watch.done:
        print(f"import_probe: no line matched {watch.pattern.pattern!r}", file=sys.stderr)
        return 3
    return code


if __name__ == "__main__":
    raise SystemExit(main())
