"""The Hugging Face adapter driven in `transformers.Trainer`'s callback order, controlled
through the control socket: checkpoint-now, LR steering, stop, the epoch line from `eval_*`.

transformers is an optional extra (not installed here): the callback base is a stand-in
`TrainerCallback`, so this checks the adapter's mapping, not transformers itself.
"""

from __future__ import annotations

import importlib
import sys
import types
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from tui_trainer.remote.client import request
from tui_trainer.runlog.reader import read_run


@pytest.fixture
def hf_adapter(monkeypatch: pytest.MonkeyPatch) -> Iterator[types.ModuleType]:
    if importlib.util.find_spec("transformers") is None:
        stub = types.ModuleType("transformers")
        stub.TrainerCallback = type("TrainerCallback", (), {})  # type: ignore[attr-defined]
        monkeypatch.setitem(sys.modules, "transformers", stub)
    monkeypatch.delitem(sys.modules, "tui_trainer.adapters.hf", raising=False)
    yield importlib.import_module("tui_trainer.adapters.hf")
    sys.modules.pop("tui_trainer.adapters.hf", None)  # built on the stand-in: not for others


def test_steps_are_checkpointed_steered_and_stopped(
    hf_adapter: types.ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_dir = tmp_path / "runs" / "hf" / "r1"
    monkeypatch.setenv("TUI_TRAINER_RUN_DIR", str(run_dir))
    model = torch.nn.Linear(4, 2)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    args = SimpleNamespace(
        num_train_epochs=3,
        output_dir=str(tmp_path / "out"),
        to_dict=lambda: {"learning_rate": 0.1, "num_train_epochs": 3},
    )
    state = SimpleNamespace(is_world_process_zero=True, max_steps=30)
    control = SimpleNamespace(should_training_stop=False, should_save=False)
    cb = hf_adapter.TuiTrainerCallback(name="hf")
    cb.on_train_begin(args, state, control, model=model, optimizer=optimizer)
    cb.on_epoch_begin(args, state, control)
    for _ in range(3):
        cb.on_step_begin(args, state, control)
    assert request(run_dir, "checkpoint")["ok"]
    assert request(run_dir, "steer", change="lr=0.05")["ok"]
    cb.on_step_begin(args, state, control)
    assert control.should_save  # the trainer's own checkpoint too
    assert optimizer.param_groups[0]["lr"] == pytest.approx(0.05)
    saved = [p for p in (run_dir / "checkpoints").glob("*.pt") if p.name != "last.pt"]
    assert saved and set(torch.load(saved[0])) == {"model", "optimizer"}
    cb.on_log(args, state, control, logs={"loss": 0.5})
    cb.on_evaluate(args, state, control, metrics={"eval_loss": 0.4, "eval_accuracy": 0.9})
    assert request(run_dir, "stop", now=True)["ok"]
    cb.on_step_begin(args, state, control)
    assert control.should_training_stop
    cb.on_epoch_end(args, state, control)
    cb.on_train_end(args, state, control)

    record = read_run(run_dir)
    assert record.status.value == "stopped"
    assert "learning_rate" in str(record.config)
    row = record.epoch_rows[0]
    flat = {**row, **row.get("metrics", {})}
    assert flat["val_loss"] == pytest.approx(0.4) and flat["val_accuracy"] == pytest.approx(0.9)
