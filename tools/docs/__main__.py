"""`python -m tools.docs config | screenshots | all`: regenerate the documentation's derived files
(docs/reference/config.md from the schema, docs/images/*.svg from the console). Run from the
repository root; `mkdocs build --strict` then builds the site."""

from __future__ import annotations

import argparse
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def main(argv: list[str] | None = None) -> int:
    """Regenerate what `argv` names; prints each file written."""
    parser = argparse.ArgumentParser(prog="python -m tools.docs", description=__doc__)
    parser.add_argument("what", choices=("config", "screenshots", "all"))
    args = parser.parse_args(argv)
    written: list[Path] = []
    if args.what in ("config", "all"):
        from tools.docs import config_ref

        written.append(config_ref.write(ROOT))
    if args.what in ("screenshots", "all"):
        from tools.docs import screenshots

        written += screenshots.write(ROOT)
    for path in written:
        print(path.relative_to(ROOT))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
