"""The Lightning adapter: a real `Trainer.fit` paused, checkpointed, steered and stopped
through the control socket.

Skipped where lightning is not installed (it is the optional extra `[lightning]`).
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from pathlib import Path
from typing import Any

import pytest

pl = pytest.importorskip("lightning.pytorch")

import torch  # noqa: E402

from tui_trainer.remote.client import NotLive, request  # noqa: E402
from tui_trainer.runlog.reader import read_run  # noqa: E402


class TinyModule(pl.LightningModule):
    """A linear classifier on generated points; slow enough steps to be paused mid-epoch."""

    def __init__(self, lr: float = 0.1, hidden: int = 8) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.net = torch.nn.Sequential(
            torch.nn.Linear(4, hidden), torch.nn.ReLU(), torch.nn.Linear(hidden, 2)
        )

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        x, y = batch
        time.sleep(0.005)
        loss = torch.nn.functional.cross_entropy(self.net(x), y)
        self.log("train_loss", loss, on_epoch=True, on_step=False)
        return loss

    def validation_step(self, batch: Any, batch_idx: int) -> None:
        x, y = batch
        self.log("val_loss", torch.nn.functional.cross_entropy(self.net(x), y))

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.SGD(self.parameters(), lr=self.hparams.lr)


def _loader(n: int) -> torch.utils.data.DataLoader:
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(n, 4, generator=gen)
    data = torch.utils.data.TensorDataset(x, (x[:, 0] > 0).long())
    return torch.utils.data.DataLoader(data, batch_size=4)


def _ask(run_dir: Path, cmd: str, **fields: Any) -> dict[str, Any]:
    deadline = time.monotonic() + 20
    while True:
        try:
            return request(run_dir, cmd, **fields)
        except (NotLive, OSError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def _wait_state(run_dir: Path, state: str) -> dict[str, Any]:
    deadline = time.monotonic() + 20
    while (status := _ask(run_dir, "status"))["state"] != state:
        assert time.monotonic() < deadline, f"state {status['state']}, expected {state}"
        time.sleep(0.05)
    return status


def _wait_first_step(run_dir: Path) -> None:
    """Until the run has reported a step (a status has no `step` before the first one: a pause
    asked sooner, on a slow machine, holds the run before it has a step to compare)."""
    deadline = time.monotonic() + 20
    while "step" not in _ask(run_dir, "status"):
        assert time.monotonic() < deadline, "no step reported"
        time.sleep(0.05)


@pytest.mark.parametrize("now", [True, False], ids=["stop-now", "stop-after-epoch"])
def test_fit_is_paused_and_stopped_through_the_control_socket(
    now: bool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tui_trainer.adapters.lightning import TuiTrainerCallback

    run_dir = tmp_path / "runs" / "tiny" / "r1"
    monkeypatch.setenv("TUI_TRAINER_RUN_DIR", str(run_dir))  # the path exec would give
    seen: dict[str, Any] = {}

    def control() -> None:
        try:
            _wait_first_step(run_dir)
            _ask(run_dir, "pause")
            paused = _wait_state(run_dir, "paused")
            time.sleep(0.4)  # paused: no step is taken meanwhile
            seen["held"] = (paused["step"], _ask(run_dir, "status")["step"])
            _ask(run_dir, "resume")
            _ask(run_dir, "checkpoint")
            seen["steer"] = _ask(run_dir, "steer", change="lr=0.05")
            deadline = time.monotonic() + 20
            while not any((run_dir / "checkpoints").glob("*.pt")):
                assert time.monotonic() < deadline, "no checkpoint-now file"
                time.sleep(0.05)
            _ask(run_dir, "stop", **({"now": True} if now else {}))
        except BaseException as exc:  # reported by the test thread
            seen["error"] = exc
            # never leave fit paused for good (the test would hang instead of failing)
            for cmd, fields in (("resume", {}), ("stop", {"now": True})):
                with contextlib.suppress(Exception):  # the run may be gone already
                    request(run_dir, cmd, **fields)

    controller = threading.Thread(target=control, daemon=True)
    controller.start()
    trainer = pl.Trainer(
        max_epochs=200,
        accelerator="cpu",
        callbacks=[TuiTrainerCallback(name="tiny", out=tmp_path / "runs")],
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
    )
    started = time.monotonic()
    module = TinyModule()
    trainer.fit(module, _loader(64), _loader(16))
    controller.join(10)
    assert "error" not in seen, seen.get("error")
    assert seen["held"][0] == seen["held"][1]
    assert trainer.current_epoch < 199, "the stop did not end the fit"
    assert time.monotonic() - started < 60

    assert seen["steer"].get("ok"), seen["steer"]
    assert trainer.optimizers[0].param_groups[0]["lr"] == pytest.approx(0.05)
    saved = sorted((run_dir / "checkpoints").glob("*.pt"))
    assert len(saved) >= 2  # checkpoint-now and last.pt at the stop
    for path in saved:  # Lightning's own checkpoints: Trainer.fit(ckpt_path=...) resumes them
        assert "state_dict" in torch.load(path, weights_only=False)

    record = read_run(run_dir)
    assert record.status.value == "stopped"
    assert record.config  # the hyperparameters, as the run's config
    assert "0.1" in str(record.config)
    rows = record.epoch_rows
    assert rows and "val_loss" in rows[0]


def test_a_missing_library_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    from tui_trainer.adapters import require

    monkeypatch.setitem(sys.modules, "transformers", None)  # import fails
    with pytest.raises(ImportError) as err:
        require("transformers", "hf")
    assert str(err.value) == (
        "tui_trainer.adapters.hf needs transformers: pip install 'tui-trainer[hf]'"
    )


class SlowValidation(TinyModule):
    def validation_step(self, batch: Any, batch_idx: int) -> None:
        time.sleep(0.03)
        super().validation_step(batch, batch_idx)


def test_validation_passes_report_their_batches_but_not_the_sanity_check(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tui_trainer.adapters.lightning import TuiTrainerCallback
    from tui_trainer.api import run as run_module

    monkeypatch.setattr(run_module, "PROGRESS_INTERVAL", 0.05)
    callback = TuiTrainerCallback(name="slow-val", out=str(tmp_path))
    trainer = pl.Trainer(
        max_epochs=2,
        callbacks=[callback],
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=2,
        accelerator="cpu",
    )
    trainer.fit(SlowValidation(), _loader(16), _loader(48))  # 12 validation batches
    (run_dir,) = [p for p in (tmp_path / "slow-val").iterdir() if p.is_dir()]
    lines = (run_dir / "metrics.jsonl").read_text().splitlines()
    passes = [r for r in map(json.loads, lines) if r["event"] == "validating"]
    assert {r["epoch"] for r in passes} == {1, 2}  # none before the first epoch
    assert all(r["batches"] == 12 and 1 <= r["batch"] <= 12 for r in passes)
    for epoch in (1, 2):  # each pass ends saying its batches are all done
        assert [r["batch"] for r in passes if r["epoch"] == epoch][-1] == 12
    assert read_run(run_dir).status == "completed"
