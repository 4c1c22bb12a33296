"""The GPU kit's Python helpers, each with --dry-run, in one interpreter (torch imported once).

python benchmarks/gpu_kit_dry_run.py [1|0]    # 0: the precision bench without compile
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main(argv: list[str]) -> int:
    compile_on = (argv[0] if argv else "1") == "1"
    helpers = {
        "gpu_precision": [] if compile_on else ["--no-compile"],
        "gpu_sync_check": [],
        "gpu_nccl_check": [],
    }
    for name, extra in helpers.items():
        spec = importlib.util.spec_from_file_location(name, HERE / f"{name}.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module  # dataclasses look their module up there
        spec.loader.exec_module(module)
        rc = module.main(["--dry-run", *extra])
        if rc:
            print(f"{name}: dry run failed ({rc})", file=sys.stderr)
            return rc
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
