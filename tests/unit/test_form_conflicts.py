"""The setup form's checks: rules between keys end on a field, and what the run needs here."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from tui_trainer.config import load_config
from tui_trainer.errors import UserError
from tui_trainer.tui.form import FormValues, refused, uses_data_root, validate

DIGITS = """\
epochs: 3
data: {name: digits, batch_size: 32}
scheduler: {name: cosine, warmup_epochs: 1}
"""


def form_for(path: Path, text: str) -> tuple[FormValues, object]:
    path.write_text(text)
    base, _ = load_config(path, [])
    return FormValues.from_config(base), base


def test_onecycle_conflicts_with_the_warm_up_and_the_warm_up_field_resolves_it(
    tmp_path: Path,
) -> None:
    preset = tmp_path / "digits.yaml"
    values, base = form_for(preset, DIGITS)
    onecycle = replace(values, scheduler="onecycle")
    result = validate(preset, base, onecycle, [])
    assert not result.ok
    assert "scheduler.warmup_epochs: onecycle warms up by itself" in result.errors["warmup"]
    assert result.general is None  # on the field that fixes it, not a loose message
    fixed = validate(preset, base, replace(onecycle, warmup="0"), [])
    assert fixed.ok, fixed.errors
    assert fixed.overrides == ["scheduler.name=onecycle", "scheduler.warmup_epochs=0"]


def test_a_conflict_with_a_key_no_toggle_sets_lands_on_the_change_that_caused_it(
    tmp_path: Path,
) -> None:
    preset = tmp_path / "clip.yaml"
    values, base = form_for(preset, DIGITS + "optim: {clip_grad_value: 1.0}\n")
    result = validate(preset, base, replace(values, clip_grad_norm="5", epochs="4"), [])
    assert not result.ok
    message = result.errors["clip_grad_norm"]
    assert "optim.clip_grad_value: choose one of" in message
    assert "no toggle sets optim.clip_grad_value" in message and "undo this change" in message
    assert set(result.errors) == {"clip_grad_norm"}  # the epochs change is innocent


def test_missing_data_refuses_start_on_the_data_folder_field(tmp_path: Path) -> None:
    preset = tmp_path / "folder.yaml"
    values, base = form_for(preset, "data: {name: imagefolder, root: nowhere}\n")
    assert uses_data_root(base)
    result = validate(preset, base, values, [])
    assert not result.ok
    assert (
        result.errors["data_root"] == "data.root: folder 'nowhere' not found here; the run needs it"
    )
    (tmp_path / "images").mkdir()
    moved = validate(preset, base, replace(values, data_root=str(tmp_path / "images")), [])
    assert moved.ok and moved.overrides == [f"data.root={tmp_path / 'images'}"]


def test_missing_weights_are_a_general_refusal_that_says_what_to_do(tmp_path: Path) -> None:
    preset = tmp_path / "weights.yaml"
    values, base = form_for(preset, DIGITS.replace("epochs: 3", "model: {weights: w.pt}"))
    result = validate(preset, base, values, [])
    assert not result.ok and not result.errors
    assert result.general is not None
    assert result.general.startswith("model.weights: file 'w.pt' not found here")
    assert "start with model.weights=…" in result.general


def test_a_refusal_from_the_run_goes_on_its_field_or_in_general(tmp_path: Path) -> None:
    preset = tmp_path / "digits.yaml"
    values, base = form_for(preset, DIGITS)
    ok = validate(preset, base, values, [])
    too_big = refused(ok, UserError("4096 is larger than the 1437 samples", key="data.batch_size"))
    assert not too_big.ok and "data.batch_size: 4096 is larger" in too_big.errors["batch_size"]
    other = refused(ok, UserError("data.images_dir: folder 'x' not found"))
    assert not other.ok and other.general == "data.images_dir: folder 'x' not found"
