"""The script API in this process: what `tui_trainer.init` writes and how `Run` honours its
`Control` (the e2e tier drives a real script with `ctl` and signals:
tests/e2e/test_script_subprocess.py)."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import torch

import tui_trainer
from tui_trainer.api import run as run_module
from tui_trainer.api.directory import RUN_DIR_ENV
from tui_trainer.api.scalars import Scalars
from tui_trainer.errors import UserError
from tui_trainer.rundir import holder
from tui_trainer.runlog.reader import read_run


def _records(run_dir: Path, kind: str) -> list[dict]:
    lines = (run_dir / "metrics.jsonl").read_text().splitlines()
    return [r for r in map(json.loads, lines) if r.get("event") == kind]


def _train(run, epochs: int = 2, steps: int = 5, vals=None) -> None:
    for epoch in run.epochs(epochs):
        for x in run.iterate([torch.ones(4, 2)] * steps):
            run.log(loss=x.sum() * 0 + epoch + 1, acc=0.5)
        run.log_epoch(**(vals[epoch] if vals else {"val_loss": 1.0 / (epoch + 1)}))


def test_import_tui_trainer_loads_no_torch_engine_or_api():
    code = (
        "import json, sys, tui_trainer\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('torch', 'tui_trainer'))))\n"
        "assert callable(tui_trainer.init) and tui_trainer.Run.__name__ == 'Run'\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(done.stdout) == ["tui_trainer"]


def test_the_script_api_loads_no_ui_session_or_trainer():
    code = (
        "import sys, tui_trainer.api\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('textual', 'rich') or m in "
        "('tui_trainer.session', 'tui_trainer.engine.loop', 'tui_trainer.tui', "
        "'tui_trainer.headless')))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_checkpoint_now_without_a_function_is_a_warning(tmp_path, private_runtime):
    with tui_trainer.init(out=tmp_path) as run:
        for i in run.iterate(range(3)):
            if i == 0:
                run.control.request_checkpoint()
    warnings = [r["message"] for r in _records(run.run_dir, "log") if r["level"] == "warning"]
    assert warnings == ["checkpoint asked for, but the script set no run.on_checkpoint(fn)"]
    assert not _records(run.run_dir, "checkpoint")


def test_a_script_run_leaves_a_run_directory_readers_read(tmp_path, private_runtime):
    with tui_trainer.init(name="mine", config={"model": "resnet", "lr": 0.1}, out=tmp_path) as run:
        saved: list[Path] = []
        run.on_checkpoint(lambda path: (saved.append(path), path.write_bytes(b"x")))
        _train(run, epochs=3, vals=[{"val_loss": 0.5}, {"val_loss": 0.2}, {"val_loss": 0.3}])
        assert holder(run.run_dir) is not None  # locked while it runs
    run_dir = run.run_dir
    assert run_dir.parent == tmp_path / "mine"
    assert holder(run_dir) is None
    assert saved == [run_dir / "checkpoints" / "last.pt"]
    record = read_run(run_dir, strict=True)
    assert record.status == "completed"
    assert record.config["script"] == {"model": "resnet", "lr": 0.1}  # any shape of keys
    assert record.planned_epochs == 3
    assert record.best() == ("val_loss", 0.2, 2)
    assert [r["train_loss"] for r in record.epoch_rows] == [1.0, 2.0, 3.0]
    assert (run_dir / "metrics.csv").read_text().startswith("epoch,train_loss,val_loss")
    steps = _records(run_dir, "step")
    assert steps[-1]["global_step"] == 15 and steps[-1]["steps"] == 5
    assert steps[-1]["loss_parts"] == {"acc": 0.5}
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["global_step"] == 15 and summary["samples_per_second"] > 0
    assert not (run_dir / ".endpoint").exists()  # the socket went with the run


def test_monitor_and_mode_pick_the_best_epoch(tmp_path, private_runtime):
    with tui_trainer.init(out=tmp_path, monitor="val_accuracy") as run:
        _train(run, vals=[{"val_accuracy": 0.7}, {"val_accuracy": 0.6}])
    assert read_run(run.run_dir).best() == ("val_accuracy", 0.7, 1)


def test_logged_tensors_are_converted_only_when_an_event_is_due(
    tmp_path, private_runtime, monkeypatch
):
    takes: list[int] = []
    real = Scalars.take
    monkeypatch.setattr(Scalars, "take", lambda self: takes.append(1) or real(self))
    monkeypatch.setattr(run_module, "PROGRESS_INTERVAL", 3600.0)
    with tui_trainer.init(out=tmp_path) as run:
        _train(run, epochs=2, steps=50)
    assert len(takes) == 3  # the first step's event, then each epoch's end: not one per step
    steps = _records(run.run_dir, "step")
    assert [(r["global_step"], r["loss"]) for r in steps] == [(1, 1.0), (50, 1.0), (100, 2.0)]


def test_iterate_measures_data_wait_and_takes_loaders_without_len(tmp_path, private_runtime):
    def slow_loader():
        for _ in range(4):
            time.sleep(0.05)
            yield torch.zeros(2, 3)

    with tui_trainer.init(out=tmp_path) as run:
        batches = list(run.iterate(slow_loader()))
    assert len(batches) == 4
    summary = json.loads((run.run_dir / "summary.json").read_text())
    assert summary["data_wait_seconds"] >= 0.2
    breakdown = summary["time_breakdown"]  # the parts a script run knows: data wait, the rest
    assert set(breakdown) == {"data", "other"} and breakdown["data"] > 0.5
    assert sum(breakdown.values()) == pytest.approx(1.0)
    (last,) = _records(run.run_dir, "step")[-1:]
    assert (last["step"], last["steps"]) == (4, 4)


def test_validate_reports_the_pass_off_the_training_clock(tmp_path, private_runtime, monkeypatch):
    monkeypatch.setattr(run_module, "PROGRESS_INTERVAL", 0.05)

    def slow_val():
        for _ in range(6):
            time.sleep(0.05)
            yield torch.zeros(2, 3)

    class Sized:  # a loader with a length, as a DataLoader has
        def __len__(self) -> int:
            return 6

        def __iter__(self):
            return slow_val()

    with tui_trainer.init(out=tmp_path) as run:
        for _epoch in run.epochs(2):
            list(run.iterate(range(3)))
            seen = sum(1 for _ in run.validate(Sized()))
            assert seen == 6
            run.log_epoch(val_loss=0.5)
    passes = _records(run.run_dir, "validating")
    assert {r["epoch"] for r in passes} == {1, 2} and len(passes) >= 4
    assert all(r["batches"] == 6 and 1 <= r["batch"] <= 6 and r["epochs"] == 2 for r in passes)
    for epoch in (1, 2):  # in order, ending with the pass's last batch
        done = [r["batch"] for r in passes if r["epoch"] == epoch]
        assert done == sorted(done) and done[-1] == 6
    summary = json.loads((run.run_dir / "summary.json").read_text())
    assert summary["train_seconds"] < summary["wall_seconds"] - 0.5  # 2 passes of 0.3 s: off it
    steps = _records(run.run_dir, "step")
    assert steps[-1]["elapsed"] < 0.3  # the training clock never counted the passes


def test_steering_lr_and_epochs_apply_at_the_next_step(tmp_path, private_runtime):
    net = torch.nn.Linear(2, 1)
    opt = torch.optim.SGD([{"params": [net.weight], "lr": 0.1}, {"params": [net.bias], "lr": 0.2}])
    with tui_trainer.init(out=tmp_path) as run:
        outcome, why = run.control.submit_steer("lr=0.01")
        assert (outcome, why) == (
            "refused",
            "no optimizer is tracked: call run.track_optimizer(optimizer)",
        )
        run.track_optimizer(opt)
        assert run.control.submit_steer("lr=0.1")[0] == "unchanged"
        assert run.control.submit_steer("unfreeze")[0] == "refused"
        assert run.control.submit_steer("epochs=3")[0] == "refused"  # not in run.epochs yet
        for epoch in run.epochs(1):
            for i, _ in enumerate(run.iterate(range(4))):
                if epoch == 0 and i == 1:
                    assert run.control.submit_steer("lr=0.05") == ("queued", "lr=0.05")
                    assert run.control.submit_steer("epochs=2") == ("queued", "epochs=2")
                    assert opt.param_groups[0]["lr"] == 0.1  # not before the boundary
                if epoch == 0 and i == 2:
                    assert [g["lr"] for g in opt.param_groups] == [0.05, 0.1]  # ratio kept
    steers = _records(run.run_dir, "steer")
    assert [(s["what"], s["old"], s["new"]) for s in steers] == [
        ("lr", 0.1, 0.05),
        ("epochs", 1, 2),
    ]
    assert read_run(run.run_dir).planned_epochs == 2
    assert json.loads((run.run_dir / "summary.json").read_text())["global_step"] == 8


def test_pause_blocks_iterate_off_the_clock_and_stop_ends_it(tmp_path, private_runtime):
    with tui_trainer.init(out=tmp_path) as run:
        control = run.control
        done: list[int] = []
        for epoch in run.epochs(100):
            assert epoch == 0  # the stop ends the loop after this epoch
            for step in run.iterate(range(10)):
                done.append(step)
                if len(done) == 3:
                    control.pause()
                    threading.Timer(0.5, control.resume).start()
                    t0 = time.monotonic()
                if len(done) == 4:
                    assert time.monotonic() - t0 >= 0.45  # blocked at the boundary
                if len(done) == 6:
                    control.request_stop()  # ctl stop: at this epoch's end
        assert len(done) == 10
    summary = json.loads((run.run_dir / "summary.json").read_text())
    assert summary["status"] == "stopped"
    assert summary["train_seconds"] < summary["wall_seconds"] - 0.4  # the pause is off the clock
    assert [r["step"] for r in _records(run.run_dir, "paused")] == [3]


def test_an_exception_in_the_with_block_fails_the_run_and_is_reraised(tmp_path, private_runtime):
    with pytest.raises(ZeroDivisionError), tui_trainer.init(out=tmp_path) as run:
        for _ in run.iterate(range(3)):
            1 / 0  # noqa: B018
    assert read_run(run.run_dir).status == "failed"
    assert "ZeroDivisionError" in (run.run_dir / "traceback.txt").read_text()
    assert holder(run.run_dir) is None


def test_exec_run_dir_is_used_exactly_and_adopted_with_only_output_log(
    tmp_path, private_runtime, monkeypatch
):
    target = tmp_path / "exec-made"
    target.mkdir()
    (target / "output.log").write_text("hello\n")
    monkeypatch.setenv(RUN_DIR_ENV, str(target))
    with tui_trainer.init(name="ignored", out=tmp_path / "elsewhere") as run:
        pass
    assert run.run_dir == target
    assert (target / "output.log").read_text() == "hello\n"
    assert read_run(target).status == "completed"
    assert not (tmp_path / "elsewhere").exists()

    fresh = tmp_path / "not-yet" / "run"
    monkeypatch.setenv(RUN_DIR_ENV, str(fresh))
    tui_trainer.init().finish()
    assert read_run(fresh).status == "completed"


def test_exec_run_dir_holding_other_files_is_refused_untouched(
    tmp_path, private_runtime, monkeypatch
):
    target = tmp_path / "taken"
    target.mkdir()
    (target / "notes.txt").write_text("mine")
    monkeypatch.setenv(RUN_DIR_ENV, str(target))
    with pytest.raises(UserError, match=f"{RUN_DIR_ENV}: .*notes.txt"):
        tui_trainer.init()
    assert sorted(p.name for p in target.iterdir()) == ["notes.txt"]


def test_bad_config_and_bad_log_values_are_one_line_errors(tmp_path, private_runtime):
    with pytest.raises(UserError, match=r"init\(config=...\): expected a dict"):
        tui_trainer.init(config=[1, 2], out=tmp_path)
    with pytest.raises(UserError, match=r"init\(mode=...\): expected 'min' or 'max'"):
        tui_trainer.init(mode="up", out=tmp_path)
    assert not (tmp_path / "script").exists()  # nothing written
    with tui_trainer.init(out=tmp_path) as run:
        with pytest.raises(ValueError, match=r"run.log\(x=...\): expected a scalar"):
            run.log(x=torch.ones(3))
        with pytest.raises(ValueError, match=r"run.log\(y=...\): expected a number"):
            run.log(y="high")
        with pytest.raises(ValueError, match=r"run.log_epoch\(epoch=...\): 'epoch' is the epo"):
            run.log_epoch(val_loss=0.5, epoch=1.0)  # transformers' metrics carry one
        with pytest.raises(ValueError, match=r"run.log_epoch\(val_loss=...\): expected a num"):
            run.log_epoch(val_loss="low")
        run.log_epoch(val_loss=torch.tensor([0.25]))  # a one-element tensor is read once
    (row,) = read_run(run.run_dir, strict=True).epoch_rows  # nothing half-written before it
    assert row["epoch"] == 1 and row["val_loss"] == 0.25


def test_resume_continues_the_epoch_count_history_and_best(tmp_path, private_runtime):
    with tui_trainer.init(out=tmp_path) as run:
        run.on_checkpoint(lambda path: path.write_bytes(b"w"))
        for epoch in run.epochs(4):
            for _ in run.iterate(range(3)):
                run.log(loss=1.0)
            run.log_epoch(val_loss=[0.5, 0.3][epoch])
            if epoch == 1:
                run.control.request_stop()
    assert read_run(run.run_dir).status == "stopped"

    seen: list[int] = []
    with tui_trainer.init(out=tmp_path, resume=run.run_dir) as again:
        assert again.resumed_from == run.run_dir / "checkpoints" / "last.pt"
        for epoch in again.epochs(4):
            seen.append(epoch)
            for _ in again.iterate(range(3)):
                again.log(loss=1.0)
            again.log_epoch(val_loss=0.4)
    assert seen == [2, 3]
    record = read_run(run.run_dir, strict=True)
    assert record.status == "completed"
    assert [r["epoch"] for r in record.epoch_rows] == [1, 2, 3, 4]
    assert record.best() == ("val_loss", 0.3, 2)  # still the first segment's epoch
    summary = json.loads((run.run_dir / "summary.json").read_text())
    assert summary["global_step"] == 12 and summary["epochs_completed"] == 4
    assert (run.run_dir / "metrics.csv").read_text().count("\n") == 5  # header + 4 epochs


def test_resume_refuses_an_engine_run_and_a_live_one(tmp_path, private_runtime):
    engine_like = tmp_path / "engine"
    engine_like.mkdir()
    (engine_like / "config.yaml").write_text("epochs: 2\n")
    (engine_like / "metrics.jsonl").write_text("")
    with pytest.raises(UserError, match=r"not written by tui_trainer\.init"):
        tui_trainer.init(resume=engine_like)
    with (
        tui_trainer.init(out=tmp_path) as live,
        pytest.raises(UserError, match="is being written by"),
    ):
        tui_trainer.init(resume=live.run_dir)


def test_the_runs_browser_lists_and_opens_a_script_run(tmp_path, private_runtime, monkeypatch):
    from support.pilot import NoGpuPanel, demo_presets, run, wait_for, wait_for_text

    from tui_trainer.tui import runs_view as rv
    from tui_trainer.tui.app import TrainerApp
    from tui_trainer.tui.screens.run_detail import RunDetailScreen
    from tui_trainer.tui.screens.runs import RunsScreen
    from tui_trainer.tui.screens.setup import SetupScreen

    out = tmp_path / "runs"
    with tui_trainer.init(name="mine", config={"lr": 0.1}, out=out) as script:
        _train(script, epochs=2, vals=[{"val_loss": 0.4}, {"val_loss": 0.3}])
    monkeypatch.chdir(tmp_path)

    async def scenario() -> None:
        app = TrainerApp(presets=demo_presets(tmp_path), gpu_panel=NoGpuPanel, out=str(out))
        async with app.run_test(size=(120, 40)) as pilot:
            await wait_for(pilot, lambda: isinstance(app.screen, SetupScreen))
            await pilot.press("f3")
            await wait_for(pilot, lambda: isinstance(app.screen, RunsScreen))
            screen = app.screen
            await wait_for(pilot, lambda: screen.listing is not None)
            assert [rv.run_name(i) for i in screen.shown] == ["/".join(script.run_dir.parts[-2:])]
            await wait_for_text(pilot, "completed")
            await pilot.press("enter")
            await wait_for(pilot, lambda: isinstance(app.screen, RunDetailScreen))
            await wait_for_text(pilot, "val_loss")

    run(scenario())
