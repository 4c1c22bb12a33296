"""Error types that map to the headless exit codes (docs/reliability.md: "Exit codes")."""

from __future__ import annotations


class UserError(Exception):
    """Bad input: preset, override, path, checkpoint. Exit code 2, nothing written.

    `str(err)` is one line that names the file, the key and what was expected:
    ``"<location>: <key>: <text>"`` (parts that are None are left out). The parts are also
    kept as fields, so a caller (the setup form) can tell which key is wrong without parsing:

    - `location`: where the value came from (a file, ``file:line``, ``override 'k=v'``);
    - `key`: the dotted config key (``freeze.epochs``), if the error is about one;
    - `text`: what is wrong and what was expected.

    ``UserError("one whole line")`` still works for messages that have no key.
    """

    exit_code = 2

    def __init__(self, text: str, *, key: str | None = None, location: str | None = None) -> None:
        self.text = text
        self.key = key
        self.location = location
        super().__init__(": ".join(p for p in (location, key, text) if p))


class TrainingError(Exception):
    """Training failed: non-finite loss, out of memory, data error. Exit code 1."""

    exit_code = 1
