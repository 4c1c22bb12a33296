"""A plain training script using `tui_trainer.init`, run as a subprocess and driven from outside:
`tui-trainer ctl` pauses, checkpoints, steers the LR and stops it; SIGTERM checkpoints and exits
143; an exception leaves a failed run with its traceback. The run directory it leaves is read by
`runs`, `compare` and `read_run` like an engine run's."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from tui_trainer.runlog.reader import read_run

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = """
import sys, time, torch, tui_trainer

torch.manual_seed(0)
model = torch.nn.Linear(4, 1)
opt = torch.optim.SGD(model.parameters(), lr=0.1)
data = [(torch.randn(8, 4), torch.randn(8, 1)) for _ in range(20)]
FAIL_AT = int(sys.argv[2])
USE_WITH = sys.argv[3] == "with"

def train(run):
    run.track_optimizer(opt)
    run.on_checkpoint(lambda path: torch.save(
        {"lr": opt.param_groups[0]["lr"], "step": run.global_step}, path))
    print("training", run.run_dir, flush=True)
    for epoch in run.epochs(int(sys.argv[1])):
        for x, y in run.iterate(data):
            loss = torch.nn.functional.mse_loss(model(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            run.log(loss=loss.detach())
            time.sleep(0.002)
            if run.global_step == FAIL_AT:
                raise ValueError("the script broke")
        run.log_epoch(val_loss=float(loss), val_accuracy=0.5)

if USE_WITH:
    with tui_trainer.init(name="script", config={"lr": 0.1, "model": "linear"},
                          out=sys.argv[4]) as run:
        train(run)
else:
    run = tui_trainer.init(name="script", config={"lr": 0.1}, out=sys.argv[4])
    train(run)
    run.finish()
print("after finish", flush=True)
"""


def _start(tmp_path: Path, epochs: int, fail_at: int = -1, form: str = "with") -> tuple:
    script = tmp_path / "train.py"
    script.write_text(SCRIPT)
    proc = subprocess.Popen(
        [sys.executable, str(script), str(epochs), str(fail_at), form, str(tmp_path / "runs")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line.startswith("training "), line + (proc.stderr.read() if proc.stderr else "")
    return proc, Path(line.split(" ", 1)[1].strip())


def _cli(*argv: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "tui_trainer", *argv],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )


def _wait_for(predicate, timeout: float = 60.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def _records(run_dir: Path) -> list[dict]:
    text = (run_dir / "metrics.jsonl").read_text()
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def _events(run_dir: Path, kind: str) -> list[dict]:
    return [r for r in _records(run_dir) if r.get("event") == kind]


def test_ctl_pauses_checkpoints_steers_and_stops_a_script(tmp_path, private_runtime):
    proc, run_dir = _start(tmp_path, epochs=10_000)
    try:
        _wait_for(lambda: _cli("ctl", str(run_dir), "status").returncode == 0, what="the socket")
        assert _cli("ctl", str(run_dir), "pause").returncode == 0
        _wait_for(lambda: _events(run_dir, "paused"), what="the pause")
        status = _cli("ctl", str(run_dir), "status")
        assert "paused" in status.stdout, status.stdout + status.stderr
        steps = [r["global_step"] for r in _events(run_dir, "step")]
        time.sleep(0.6)  # paused: no step happens
        assert [r["global_step"] for r in _events(run_dir, "step")] == steps

        steer = _cli("ctl", str(run_dir), "lr=*0.5")
        assert steer.returncode == 0, steer.stdout + steer.stderr
        _wait_for(lambda: _events(run_dir, "steer"), what="the steer record")
        (record,) = _events(run_dir, "steer")
        assert (record["what"], record["old"], record["new"]) == ("lr", 0.1, 0.05)

        assert _cli("ctl", str(run_dir), "checkpoint").returncode == 0
        _wait_for(lambda: _events(run_dir, "checkpoint"), what="the checkpoint")
        (saved,) = _events(run_dir, "checkpoint")
        path = Path(saved["path"])
        assert path.parent == run_dir / "checkpoints" and path.suffix == ".pt"
        assert torch.load(path)["lr"] == pytest.approx(0.05)  # steered before it was saved

        refused = _cli("ctl", str(run_dir), "unfreeze")
        assert refused.returncode != 0 and "lr=VALUE" in refused.stdout + refused.stderr

        assert _cli("ctl", str(run_dir), "resume").returncode == 0
        _wait_for(lambda: _events(run_dir, "resumed"), what="the resume")
        assert _cli("ctl", str(run_dir), "stop", "--now").returncode == 0
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err
    assert "after finish" in out
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["status"] == "stopped"
    assert torch.load(run_dir / "checkpoints" / "last.pt")["lr"] == pytest.approx(0.05)

    record = read_run(run_dir, strict=True)
    assert record.status == "stopped"
    assert record.config["script"] == {"lr": 0.1, "model": "linear"}
    listing = _cli("runs", str(tmp_path / "runs"))
    assert listing.returncode == 0 and "stopped" in listing.stdout, listing.stderr
    compared = _cli("compare", str(run_dir), str(run_dir))
    assert compared.returncode == 0, compared.stderr


def test_sigterm_checkpoints_and_exits_143(tmp_path, private_runtime):
    proc, run_dir = _start(tmp_path, epochs=10_000)
    _wait_for(lambda: _events(run_dir, "step"), what="a step")
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 143, err
    assert "SIGTERM" in err
    assert "after finish" not in out  # the process ends with the run
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["status"] == "interrupted"
    assert torch.load(run_dir / "checkpoints" / "last.pt")["step"] > 0
    assert [r["reason"] for r in _events(run_dir, "checkpoint")] == ["signal"]


def test_sighup_keeps_the_script_running_and_sigusr1_checkpoints(tmp_path, private_runtime):
    proc, run_dir = _start(tmp_path, epochs=10_000)
    _wait_for(lambda: _events(run_dir, "step"), what="a step")
    proc.send_signal(signal.SIGHUP)
    before = _events(run_dir, "step")[-1]["global_step"]
    _wait_for(lambda: _events(run_dir, "step")[-1]["global_step"] > before, what="more steps")
    assert proc.poll() is None
    proc.send_signal(signal.SIGUSR1)
    _wait_for(lambda: _events(run_dir, "checkpoint"), what="the checkpoint")
    (saved,) = _events(run_dir, "checkpoint")
    assert Path(saved["path"]).name.startswith("step-") and Path(saved["path"]).is_file()
    assert proc.poll() is None
    proc.send_signal(signal.SIGTERM)
    proc.communicate(timeout=60)
    assert proc.returncode == 143


@pytest.mark.parametrize("form", ["with", "plain"])
def test_an_exception_fails_the_run_with_its_traceback(tmp_path, private_runtime, form):
    proc, run_dir = _start(tmp_path, epochs=3, fail_at=5, form=form)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 1
    assert "ValueError: the script broke" in err  # re-raised: Python prints it as usual
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["status"] == "failed"
    assert "ValueError: the script broke" in summary["error"]
    assert "ValueError: the script broke" in (run_dir / "traceback.txt").read_text()
    assert read_run(run_dir, strict=True).status == "failed"


def test_a_watcher_shows_pauses_checkpoints_and_stops_a_script(tmp_path, private_runtime):
    from support.pilot import NoGpuPanel

    from tui_trainer.tui.app import TrainerApp
    from tui_trainer.tui.screens.run import RunScreen

    proc, run_dir = _start(tmp_path, epochs=10_000)

    async def watch() -> None:
        app = TrainerApp(watch=str(run_dir), gpu_panel=NoGpuPanel)
        async with app.run_test(size=(120, 40)) as pilot:
            screen = next(s for s in app.screen_stack if isinstance(s, RunScreen))

            async def until(check, timeout: float = 120.0) -> None:
                deadline = time.monotonic() + timeout
                while not check():
                    assert time.monotonic() < deadline, "timed out waiting for the watcher"
                    await pilot.pause(0.05)

            await until(lambda: screen.model.progress.step > 0)
            await pilot.press("p")
            await until(lambda: screen.model.paused)
            await pilot.press("p")
            await until(lambda: not screen.model.paused)
            await pilot.press("c")
            await until(lambda: bool(_events(run_dir, "checkpoint")))
            await until(lambda: len(screen.model.rows) >= 1)  # an epoch line reached it
            await pilot.press("s", "s")  # stop now
            await until(lambda: screen.model.finished is not None)
            await pilot.press("q")

    try:
        asyncio.run(watch())
        proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0
    assert json.loads((run_dir / "summary.json").read_text())["status"] == "stopped"
    assert [r["reason"] for r in _events(run_dir, "checkpoint")] == ["request", "stop"]
