"""Shared fixtures and helpers: tiny configs, in-process runs, a recording sink, run directories.

Tiers: tests/unit (pure functions, no training), tests/functional (tiny real runs and Pilot
screens on the fake engine), tests/snapshot (SVG screens), tests/e2e (subprocesses: signals,
torchrun, the console on a pty; all marked slow). Helpers: pilot.py (Pilot), scripted.py (the
fake engine), fake_nvml.py (NVML), tinymodels.py (module:Class models), pycode_targets.py
(module:Class names that are not usable models).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tui_trainer.config import load_config
from tui_trainer.config.schema import RunConfig


@pytest.fixture(autouse=True)
def console_state(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Path:
    """The console's state folder (last preset used) in a temp dir: tests never touch ~/.local."""
    folder = tmp_path_factory.mktemp("state")
    monkeypatch.setenv("XDG_STATE_HOME", str(folder))
    return folder / "tui-trainer"


# Small enough that a whole run takes well under a second on 2 CPU cores.
TINY = ["epochs=2", "data.batch_size=64", "device=cpu", "progress.interval=0.01"]


@pytest.fixture
def tiny_config(tmp_path: Path) -> RunConfig:
    """The quickstart preset, shortened, writing under tmp_path."""
    config, _ = load_config("quickstart", [*TINY, f"out={tmp_path / 'runs'}"])
    return config


def write_file(path: Path, data: str | bytes) -> str:
    """Write `data` at `path` (making its folders) and return the path as a CLI argument."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, bytes):
        path.write_bytes(data)
    else:
        path.write_text(data)
    return str(path)


def one_line_error(capsys: pytest.CaptureFixture[str]) -> str:
    """The captured stderr, checked to be the CLI's one `tui-trainer: error: ` line."""
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert err.startswith("tui-trainer: error: "), err
    return err


def spawn_group(cmd: list[str], **kwargs: Any) -> subprocess.Popen:
    """`subprocess.Popen` in a new session, so `kill_group` also ends what it started (torchrun's
    ranks): a failing or timed-out test never leaves training processes behind."""
    return subprocess.Popen(cmd, start_new_session=True, **kwargs)


def kill_group(proc: subprocess.Popen) -> None:
    """SIGKILL `proc` and everything in its session, then reap it."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def only_run_dir(root: Path) -> Path:
    """The single run directory under a runs root."""
    dirs = [p for p in root.glob("*/*") if p.is_dir()]
    assert len(dirs) == 1, dirs
    return dirs[0]


def epoch_lines(run_dir: Path) -> list[dict]:
    """The `"event": "epoch"` records of metrics.jsonl."""
    lines = (run_dir / "metrics.jsonl").read_text().splitlines()
    return [r for r in map(json.loads, lines) if r["event"] == "epoch"]


def run_preset(
    out: Path,
    overrides: list[str] | tuple[str, ...] = (),
    *,
    preset: str = "quickstart",
    tiny: bool = True,
    sinks: list | None = None,
    control=None,
    resume: str | Path | None = None,
):
    """Run `preset` (shortened by TINY unless `tiny=False`) in-process under `out`.

    Returns the final event and the run directory.
    """
    from tui_trainer.engine.control import Control
    from tui_trainer.session import execute

    config, name = load_config(preset, [*(TINY if tiny else []), *overrides, f"out={out}"])
    finished = execute(
        config, name, sinks=list(sinks or []), control=control or Control(), resume=resume
    )
    return finished, only_run_dir(out)


class Recorder:
    """A sink that keeps every event it is given."""

    def __init__(self) -> None:
        self.events: list = []

    def __call__(self, event) -> None:
        self.events.append(event)

    def of(self, kind: type) -> list:
        """The recorded events of one type, in order."""
        return [e for e in self.events if isinstance(e, kind)]

    def messages(self, level: str | None = None) -> list[str]:
        """The LogMessage texts (of one level, if given)."""
        from tui_trainer.engine.events import LogMessage

        return [e.message for e in self.of(LogMessage) if level in (None, e.level)]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Everything under tests/e2e/ is `slow` (deselect locally with -m "not slow"; CI runs all)."""
    for item in items:
        if "e2e" in Path(str(item.fspath)).parts:
            item.add_marker(pytest.mark.slow)


@pytest.fixture
def private_runtime(monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A control-socket directory of the test's own ($XDG_RUNTIME_DIR, owner-only), short
    enough for a Unix socket path; removed afterwards."""
    short = Path("/tmp") / f"tt-test-{os.getpid()}-{time.monotonic_ns() % 10**9}"
    short.mkdir(mode=0o700)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(short))
    yield short
    shutil.rmtree(short, ignore_errors=True)
