"""`tui-trainer check` imports and verifies every `module:Class` a preset names, calling nothing:
model.name, data.name, loss.name and each metrics entry — importable, of the right base class,
and constructible with the kwargs given. One line per problem naming its key, exit 2."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from support.cli import write_file

from tui_trainer.cli import main

USER_CODE = '''
    """A user's own classes; constructing any of them leaves a marker file."""
    from pathlib import Path

    import torch
    from torch import nn
    from torch.utils.data import Dataset
    from torchmetrics import Metric

    MARK = Path(__file__).with_name("called.txt")


    class Pairs(Dataset):
        def __init__(self, csv, root="images", size=8):
            MARK.write_text("Pairs")

        def __len__(self):
            return 4

        def __getitem__(self, i):
            return torch.zeros(1, 8, 8), 0


    class Stream(torch.utils.data.IterableDataset):
        def __iter__(self):
            MARK.write_text("Stream")
            yield torch.zeros(1, 8, 8), 0


    class NotADataset:
        def __init__(self, csv=None):
            MARK.write_text("NotADataset")


    class Focal(nn.Module):
        def __init__(self, gamma=2.0):
            super().__init__()
            MARK.write_text("Focal")

        def forward(self, logits, targets):
            return nn.functional.cross_entropy(logits, targets)


    class Net(nn.Module):
        def __init__(self, num_classes=10, in_channels=1):
            super().__init__()
            MARK.write_text("Net")


    class Top2(Metric):
        higher_is_better = False

        def __init__(self, num_classes, k=2):
            super().__init__()
            MARK.write_text("Top2")

        def update(self, preds, target):
            pass

        def compute(self):
            return torch.tensor(0.0)
'''


@pytest.fixture
def user_code(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """`mylab_check` importable from tmp_path; the marker file its classes leave when called."""
    write_file(tmp_path / "mylab_check.py", textwrap.dedent(USER_CODE))
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.chdir(tmp_path)
    return tmp_path / "called.txt"


def _preset(tmp_path: Path, body: str) -> str:
    return write_file(tmp_path / "own.yaml", textwrap.dedent(body))


GOOD = """
    task: classification
    epochs: 1
    model: {name: "mylab_check:Net"}
    data:
      name: "mylab_check:Pairs"
      kwargs: {csv: labels.csv, root: images}
      val_kwargs: {csv: val.csv}
"""


def test_check_verifies_model_and_data_classes_without_calling_them(tmp_path, user_code, capsys):
    assert main(["check", _preset(tmp_path, GOOD)]) == 0
    out = capsys.readouterr().out
    line = next(x for x in out.splitlines() if "Python code" in x)
    assert "model.name mylab_check:Net" in line, line
    assert "data.name mylab_check:Pairs" in line, line
    assert not user_code.exists(), "check constructed a user class"


def _errors(capsys: pytest.CaptureFixture[str]) -> list[str]:
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert all(x.startswith("tui-trainer: error: ") for x in lines), lines
    assert "task: classification" not in captured.out, "a refused config was printed"
    return lines


def test_every_problem_is_one_line_naming_its_key(tmp_path, user_code, capsys):
    preset = _preset(
        tmp_path,
        """
        task: classification
        model: {name: "mylab_check:Nope"}
        data:
          name: "mylab_check:Pairs"
          kwargs: {root: images}
          val_kwargs: {csv: val.csv, colour: red}
        """,
    )
    assert main(["check", preset]) == 2
    lines = _errors(capsys)
    assert len(lines) == 3, lines
    assert "model.name: module 'mylab_check' has no attribute 'Nope'" in lines[0]
    assert (
        "data.kwargs: mylab_check:Pairs cannot be constructed with {'root': 'images'}" in lines[1]
    )
    assert "missing a required argument: 'csv'" in lines[1]
    assert "data.val_kwargs:" in lines[2] and "'colour'" in lines[2]
    assert not user_code.exists()


def test_a_data_class_that_is_no_dataset_is_refused(tmp_path, user_code, capsys):
    preset = _preset(tmp_path, 'data: {name: "mylab_check:NotADataset"}\n')
    assert main(["check", preset]) == 2
    (line,) = _errors(capsys)
    assert "data.name: class 'mylab_check:NotADataset' is not a torch.utils.data.Dataset" in line
    assert not user_code.exists()


def test_an_iterable_dataset_is_refused_as_the_run_refuses_it(tmp_path, user_code, capsys):
    preset = _preset(tmp_path, 'data: {name: "mylab_check:Stream"}\n')
    assert main(["check", preset]) == 2
    (line,) = _errors(capsys)
    assert "data.name: 'mylab_check:Stream' is an IterableDataset; expected a map-style" in line
    assert not user_code.exists()


def test_a_user_model_with_a_kwarg_its_constructor_lacks_is_refused(tmp_path, user_code, capsys):
    preset = _preset(tmp_path, 'model: {name: "mylab_check:Net", kwargs: {depth: 3}}\n')
    assert main(["check", preset]) == 2
    (line,) = _errors(capsys)
    assert "model.kwargs:" in line and "'depth'" in line, line


def test_check_verifies_loss_and_metrics_too(tmp_path, user_code, capsys):
    preset = _preset(
        tmp_path,
        GOOD
        + """
    loss: {name: "mylab_check:Focal", kwargs: {gamma: 1.5}}
    metrics:
      - torchmetrics.classification:MulticlassF1Score
      - {name: "mylab_check:Top2", kwargs: {k: 3}}
      - torchmetrics:F1Score  # task and num_classes required: the run fills them in
""",
    )
    assert main(["check", preset, "checkpoint.monitor=val_top2"]) == 0
    out = capsys.readouterr().out
    assert (
        "# note: epoch lines get val_multiclassf1score, val_top2, val_f1score; "
        "best.pt follows val_top2 (min)" in out
    ), out  # Top2.higher_is_better is False: the mode the run records
    assert "  mode: min" in out
    line = next(x for x in out.splitlines() if "Python code" in x)
    for verified in (
        "loss.name mylab_check:Focal (Module)",
        "metrics[0] torchmetrics.classification:MulticlassF1Score (Metric)",
        "metrics[1] mylab_check:Top2 (Metric)",
        "metrics[2] torchmetrics:F1Score (Metric)",
    ):
        assert verified in line, line
    assert not user_code.exists()


def test_loss_and_metric_problems_name_their_keys(tmp_path, user_code, capsys):
    preset = _preset(
        tmp_path,
        """
        task: classification
        loss: {name: "mylab_check:Focal", kwargs: {alpha: 0.5}}
        metrics:
          - mylab_check:Focal
          - {name: "mylab_check:Top2", kwargs: {k: 3, top: 1}}
          - nowhere_at_all.metrics:F1
        """,
    )
    assert main(["check", preset]) == 2
    lines = _errors(capsys)
    assert len(lines) == 4, lines
    assert "loss.kwargs: mylab_check:Focal cannot be constructed" in lines[0]
    assert "'alpha'" in lines[0]
    assert "metrics[0]: class 'mylab_check:Focal' is not a torchmetrics.Metric subclass" in lines[1]
    assert "metrics[1].kwargs:" in lines[2] and "'top'" in lines[2]
    assert "metrics[2]: cannot import 'nowhere_at_all.metrics:F1'" in lines[3]
    assert not user_code.exists()
