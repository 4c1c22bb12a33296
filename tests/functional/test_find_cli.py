"""`find-lr` and `find-batch` on the preset's real model and data: the suggestion trains, the
model is left bitwise as it was, the batch finder keeps to its bound, bad input is exit 2."""

from __future__ import annotations

import copy
import json
import random
import re

import numpy as np
import pytest
import torch
from support.cli import write_file
from support.runs import run_preset

from tui_trainer.cli import main
from tui_trainer.config import load_config
from tui_trainer.find.lr_range import range_test
from tui_trainer.find.parts import prepare_parts


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no runs/ folder may appear here


def test_find_lr_suggestion_trains_quickstart_to_its_accuracy_bar(tmp_path, capsys):
    assert main(["find-lr", "quickstart", "device=cpu", "--steps", "100"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("preset: quickstart from ")
    match = re.fullmatch(r"suggested lr: (\S+)", out[-1])
    assert match, out[-1]
    lr = float(match.group(1))
    assert any("steepest descent of the smoothed loss" in line for line in out)
    assert any(line.startswith("chose ") for line in out)
    assert any("1e-7" in line and "0.01" in line for line in out)  # the log-x axis
    assert not (tmp_path / "runs").exists()  # the finder makes no run directory
    # A normal quickstart run at the suggested rate reaches the quickstart's bar (see
    # test_headless: >= 0.95 validation accuracy after its 12 epochs).
    finished, _ = run_preset(tmp_path / "out", [f"optim.lr={lr}", "device=cpu"], tiny=False)
    assert finished.status == "completed"
    assert finished.summary["final"]["val_accuracy"] >= 0.95


def test_find_lr_json_is_one_object(capsys):
    argv = ["find-lr", "quickstart", "device=cpu", "precision=fp16", "--steps", "12", "--json"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert len(out.strip().splitlines()) == 1
    finding = json.loads(out)
    assert finding["steps"] == 12 and len(finding["lrs"]) == len(finding["losses"]) >= 3
    assert finding["lrs"] == sorted(finding["lrs"]) and finding["lrs"][0] == pytest.approx(1e-7)
    assert finding["method"] in ("valley", "steepest", "minimum/10")
    assert finding["suggested_lr"] > 0 and isinstance(finding["warnings"], list)
    assert any("fp32" in note for note in finding["notes"])  # what the run would fall back to


def _snapshot(trainer) -> dict:
    return {
        "model": copy.deepcopy(trainer.model.state_dict()),
        "optim": copy.deepcopy(trainer.optimizer.state_dict()),
        "scaler": copy.deepcopy(trainer.scaler.state_dict()),
        "torch": torch.get_rng_state(),
        "numpy": np.random.get_state()[1].copy(),
        "python": random.getstate(),
        "training": [m.training for m in trainer.model.modules()],
    }


def _same(a, b) -> bool:
    if isinstance(a, torch.Tensor):
        return isinstance(b, torch.Tensor) and a.dtype == b.dtype and torch.equal(a, b)
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, np.ndarray):
        return np.array_equal(a, b)
    return a == b


def test_range_test_leaves_model_optimizer_batchnorm_and_rng_bitwise_unchanged():
    config, name = load_config(
        "quickstart",
        [
            "device=cpu",
            "model.name=support.tinymodels:TinyBN",
            "model.kwargs={}",
            "data.augment.mixup.prob=0.5",  # draws from the global torch RNG each batch
        ],
    )
    parts = prepare_parts(config, name)
    trainer = parts.trainer
    # give the optimizer state (momentum buffers) and BatchNorm statistics first
    x, targets, _labels, _n = next(parts.batches(32))
    trainer.stepper.net.train()
    trainer.stepper.backward(x, targets, 1.0, defer_sync=False)
    trainer.stepper.step()
    assert trainer.optimizer.state_dict()["state"]
    before = _snapshot(trainer)
    curve = range_test(parts, steps=30, start=1e-4, end=10.0)
    assert len(curve.lrs) >= 3
    after = _snapshot(trainer)
    for key in before:
        assert _same(before[key], after[key]), key
    parts.close()


def test_find_batch_on_cpu_keeps_within_its_bound(capsys):
    bound = 3 * 2**20
    assert main(["find-batch", "quickstart", "device=cpu", "--max-memory", "3M", "--json"]) == 0
    finding = json.loads(capsys.readouterr().out)
    assert finding["device"] == "cpu" and finding["bound_bytes"] == bound
    trials = finding["trials"]
    chosen = [t for t in trials if t["batch"] == finding["batch"]]
    assert all(t["fits"] and t["peak_bytes"] <= bound for t in chosen)
    for t in trials:  # fitting means measured within the bound, and only that
        assert t["fits"] == (t["peak_bytes"] is not None and t["peak_bytes"] <= bound), t
    fastest: dict[int, float] = {}  # each size's faster reading (the two fastest are read twice)
    for t in trials:
        if t["fits"]:
            fastest[t["batch"]] = max(fastest.get(t["batch"], 0.0), t["samples_per_s"])
    assert fastest[finding["batch"]] == max(fastest.values())


OOM_PRESET = """\
task: classification
device: cpu
data: {name: digits, batch_size: 2}
model: {name: "support.tinymodels:OOMAbove", kwargs: {limit: 2}}
"""


def test_find_batch_stops_at_out_of_memory(tmp_path, capsys):
    preset = write_file(tmp_path / "oom.yaml", OOM_PRESET)
    assert main(["find-batch", preset]) == 0
    out = capsys.readouterr().out.splitlines()
    # 8 (the first size tried on a CPU) and 4 run out of memory, 2 fits
    assert re.search(r"^4 .* no: out of memory$", "\n".join(out), re.MULTILINE), out
    batch = int(re.fullmatch(r"suggested batch size: (\d+)", out[-1]).group(1))
    assert batch <= 2


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["find-lr", "no-such-preset"], "no-such-preset"),
        (["find-lr", "quickstart", "optim.lr=fast"], "optim.lr"),
        (["find-lr", "quickstart", "--steps", "2"], "--steps"),
        (["find-lr", "quickstart", "--start", "1", "--end", "0.1"], "--start"),
        (["find-lr", "quickstart", "--end", "nan"], "--end"),
        (["find-lr", "epochs=3"], "PRESET"),
        (["find-batch", "quickstart", "--fraction", "1.5"], "--fraction"),
        (["find-batch", "quickstart", "--max-memory", "lots"], "--max-memory"),
        (["find-batch", "quickstart", "data.batch_size=0"], "data.batch_size"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(argv, says, tmp_path, capsys):
    assert main(argv) == 2
    captured = capsys.readouterr()
    err = captured.err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("tui-trainer: error: "), err
    assert says in err and captured.out == ""
    assert list(tmp_path.iterdir()) == []  # nothing written


@pytest.mark.parametrize(
    ("preset", "small"),
    [
        ("shapes-unet", ["data.num_samples=96", "data.image_size=32", "data.batch_size=8"]),
        ("quickstart-detect", ["data.num_samples=64", "data.batch_size=4"]),
    ],
)
def test_find_lr_works_through_any_tasks_forward_loss(preset, small, capsys):
    """Segmentation (a criterion on masks) and detection (the model's own losses, box targets)."""
    assert main(["find-lr", preset, "device=cpu", *small, "--steps", "4", "--json"]) == 0
    finding = json.loads(capsys.readouterr().out)
    assert len(finding["losses"]) >= 3 and all(v > 0 for v in finding["losses"])
    assert finding["suggested_lr"] > 0


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_finders_on_cuda_measure_peak_memory_and_leave_the_model_alone(capsys):
    bound = 8 * 2**20
    assert main(["find-batch", "quickstart", "device=cuda", "--max-memory", "8M", "--json"]) == 0
    finding = json.loads(capsys.readouterr().out)
    assert finding["device"].startswith("cuda") and finding["bound_bytes"] == bound
    fitting = [t for t in finding["trials"] if t["fits"]]
    assert all(t["peak_bytes"] <= bound for t in fitting)
    assert all(
        t["peak_bytes"] is None or t["peak_bytes"] > bound
        for t in finding["trials"]
        if not t["fits"]
    )
    assert finding["batch"] == max(t["batch"] for t in fitting)
    assert main(["find-lr", "quickstart", "device=cuda", "--steps", "20", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["suggested_lr"] > 0
