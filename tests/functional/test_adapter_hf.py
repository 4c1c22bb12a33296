"""The Hugging Face adapter: driven in `transformers.Trainer`'s callback order and controlled
through the control socket (checkpoint-now, LR steering, stop, the epoch line from `eval_*`),
then on a real `transformers.Trainer.train` (the `[hf]` extra, in `dev`; where transformers is
not installed the first test builds the callback on a stand-in base and the second is skipped).
"""

from __future__ import annotations

import importlib
import json
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


class _Tiny(torch.nn.Module):
    """A model as `transformers.Trainer` wants one: named inputs in, a dict with the loss out."""

    def __init__(self) -> None:
        super().__init__()
        self.net = torch.nn.Linear(4, 2)

    def forward(self, x: torch.Tensor, labels: torch.Tensor) -> dict[str, torch.Tensor]:
        logits = self.net(x)
        return {"loss": torch.nn.functional.cross_entropy(logits, labels), "logits": logits}


def _points(n: int, seed: int) -> list[dict[str, torch.Tensor]]:
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 4, generator=gen)
    return [{"x": row, "labels": (row[0] > 0).long()} for row in x]


def test_a_real_trainer_train_writes_a_run_with_epoch_lines_and_evaluation_progress(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`transformers.Trainer.train` with the callback (not a stand-in): the run directory, one
    epoch line per evaluation from `eval_*`, the evaluation batches as `validating` records."""
    transformers = pytest.importorskip("transformers", reason="the [hf] extra is not installed")
    from tui_trainer.adapters.hf import TuiTrainerCallback
    from tui_trainer.api import run as run_module

    monkeypatch.setattr(run_module, "PROGRESS_INTERVAL", 0.0)  # every batch reports
    args = transformers.TrainingArguments(
        output_dir=str(tmp_path / "out"),
        num_train_epochs=2,
        per_device_train_batch_size=8,
        per_device_eval_batch_size=2,
        learning_rate=0.1,
        eval_strategy="epoch",
        save_strategy="no",
        logging_steps=1,
        report_to=[],
        use_cpu=True,
        disable_tqdm=True,
    )
    trainer = transformers.Trainer(
        model=_Tiny(),
        args=args,
        train_dataset=_points(32, 0),
        eval_dataset=_points(16, 1),  # 8 evaluation batches
        callbacks=[TuiTrainerCallback(name="hf-real", out=tmp_path / "runs")],
    )
    trainer.train()

    (run_dir,) = [p for p in (tmp_path / "runs" / "hf-real").iterdir() if p.is_dir()]
    record = read_run(run_dir)
    assert record.status.value == "completed"
    assert [row["epoch"] for row in record.epoch_rows] == [1, 2]
    assert all("val_loss" in row for row in record.epoch_rows)
    lines = (run_dir / "metrics.jsonl").read_text().splitlines()
    passes = [r for r in map(json.loads, lines) if r["event"] == "validating"]
    for epoch in (1, 2):
        done = [r["batch"] for r in passes if r["epoch"] == epoch]
        assert done == list(range(1, 9)), done  # each batch, ending with the pass's last
    assert {r["batches"] for r in passes} == {8}
    assert "learning_rate" in str(record.config)
