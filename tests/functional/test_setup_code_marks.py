"""The setup screen marks the keys of a preset that name Python code (issue 25): choosing such
a preset runs the user's modules, and the settings panel says which keys name them."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from support.pilot import PRESET, NoGpuPanel, run, wait_for
from support.scripted import ScriptedExecutor
from textual.widgets import Static

from tui_trainer.config.loader import PresetInfo
from tui_trainer.tui.app import TrainerApp
from tui_trainer.tui.screens.setup import SetupScreen

USER_CODE = """
    import torch
    from torch import nn
    from torch.utils.data import Dataset


    class Items(Dataset):
        def __init__(self, n=8):
            self.n = n

        def __len__(self):
            return self.n

        def __getitem__(self, i):
            return torch.zeros(1, 8, 8), i % 2


    class Smooth(nn.Module):
        def __init__(self, eps=0.1):
            super().__init__()
            self.eps = eps

        def forward(self, logits, targets):
            return nn.functional.cross_entropy(logits, targets, label_smoothing=self.eps)
"""

OWN = """
    description: my lab's data
    task: classification
    epochs: 1
    data:
      name: "mylab_marks:Items"
      kwargs: {n: 8}
      num_classes: 2
    loss: {name: "mylab_marks:Smooth", kwargs: {eps: 0.2}}
    metrics: [torchmetrics.classification:MulticlassF1Score]
"""


@pytest.fixture
def presets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[PresetInfo]:
    """A preset naming the user's dataset, loss and a metric; then a built-in one."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "mylab_marks.py").write_text(textwrap.dedent(USER_CODE))
    monkeypatch.syspath_prepend(str(tmp_path))
    (tmp_path / "presets").mkdir()
    found = []
    for name, text in (("mine", textwrap.dedent(OWN)), ("plain", PRESET)):
        (tmp_path / "presets" / f"{name}.yaml").write_text(text)
        found.append(PresetInfo(name, Path(f"presets/{name}.yaml"), "test", False))
    return found


def test_the_settings_panel_names_the_keys_that_name_python_code(presets) -> None:
    async def scenario() -> None:
        app = TrainerApp(
            "mine",
            presets=presets,
            gpu_panel=NoGpuPanel,
            executor=ScriptedExecutor(epochs=1, steps=3),
        )
        async with app.run_test(size=(120, 40)) as pilot:
            await wait_for(pilot, lambda: isinstance(app.screen, SetupScreen))
            panel = app.screen.query_one("#preset-info", Static)
            text = str(panel.render())
            assert "names Python code: data.name, loss.name, metrics" in text, text
            app.screen.query_one("#presets").focus()
            await pilot.press("down")
            await wait_for(pilot, lambda: app.screen.preset.name == "plain")
            await wait_for(pilot, lambda: "names Python code" not in str(panel.render()))

    run(scenario())
