"""Names that become paths or comment lines: odd preset file names, `--out` oddities, long names.

A preset file called `...yaml` must not put its run outside `--out`, a newline in a name must
not break config.yaml's header (replay reads it), an image name too long for its mask name is
one line naming the image, and `--out` on a symlink loop says so (exit 2 for both).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image
from support.cli import one_line_error

from tui_trainer.cli import main
from tui_trainer.config import load_config
from tui_trainer.config.names import MAX_COMPONENT_BYTES, safe_component
from tui_trainer.sinks.files import render_config

QUICK = ["epochs=1", "device=cpu", "data.batch_size=256", "progress.interval=0.01"]
QUICKSTART = Path(__file__).parents[2] / "tui_trainer" / "presets" / "quickstart.yaml"


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _run_dirs(root: Path) -> list[Path]:
    return [p.parent for p in root.rglob("config.yaml")]


@pytest.mark.parametrize(
    "name", ["..", ".", ".hidden", "a\nb", "tab\there", "x" * 300, "\u2028", " .. "]
)
def test_safe_component_is_one_visible_bounded_component(name):
    safe = safe_component(name)
    assert safe and safe not in (".", "..") and not safe.startswith(".")
    assert "/" not in safe and "\\" not in safe
    assert all(ch.isprintable() and not ch.isspace() for ch in safe), repr(safe)
    assert len(safe.encode("utf-8")) <= MAX_COMPONENT_BYTES
    assert safe_component("my-preset_v2") == "my-preset_v2"  # a safe name is kept


def test_a_preset_file_named_dotdot_yaml_stays_under_out(workdir):
    preset = workdir / "presets" / "...yaml"
    preset.parent.mkdir()
    preset.write_text(QUICKSTART.read_text())
    out = workdir / "deep" / "runs"
    assert main(["run", str(preset), *QUICK, "--out", str(out)]) == 0
    made = _run_dirs(workdir)
    assert len(made) == 1
    assert out in made[0].parents, f"run written outside --out: {made[0]}"
    assert made[0].parent.name == "preset"


def test_a_newline_in_a_preset_name_keeps_config_yaml_replayable(workdir, capsys):
    preset = workdir / "bad\nname.yaml"
    preset.write_text(QUICKSTART.read_text())
    out = workdir / "runs\nhere"  # the run directory's path goes into the header too
    assert main(["run", str(preset), *QUICK, "--out", str(out)]) == 0
    first = capsys.readouterr().out.splitlines()[0]
    assert first.startswith("preset: bad_name from ") and first.endswith("bad\\nname.yaml (path)")
    (run_dir,) = _run_dirs(out)
    assert "\n" not in run_dir.relative_to(out).as_posix()
    header = (run_dir / "config.yaml").read_text().split("\n")[:2]
    assert all(line.startswith("# ") for line in header), header
    assert main(["replay", str(run_dir), "--out", str(workdir / "again")]) == 0
    assert len(_run_dirs(workdir / "again")) == 1


def test_render_config_escapes_every_line_break_in_the_header():
    config = {"epochs": 1}
    text = render_config(Path("/r\nuns\u2028x"), config, "p\r\nq\x85")
    comments = [line for line in text.splitlines() if line.startswith("#")]
    assert len(comments) == 2 and len(text.splitlines()) == 3, text
    assert yaml.safe_load(text) == config


def test_out_on_a_symlink_loop_says_so(workdir, capsys):
    os.symlink("loop", workdir / "loop")
    assert main(["run", "quickstart", *QUICK, "--out", str(workdir / "loop")]) == 2
    err = one_line_error(capsys)
    assert "symlink loop" in err and "is a file" not in err, err
    assert main(["run", "quickstart", *QUICK, "--out", str(workdir / "loop" / "runs")]) == 2
    assert "symlink loop" in one_line_error(capsys)


def test_out_on_a_broken_symlink_says_so(workdir, capsys):
    os.symlink("nowhere", workdir / "dangling")
    assert main(["run", "quickstart", *QUICK, "--out", str(workdir / "dangling")]) == 2
    err = one_line_error(capsys)
    assert "broken symbolic link" in err and "is a file" not in err, err


def test_an_image_name_too_long_for_its_mask_is_one_line_naming_it(workdir, capsys):
    root = workdir / "seg"
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    pixels = np.zeros((8, 8, 3), np.uint8)
    for stem in ("short", "y" * 250):  # 254 bytes with .png: a valid name; its mask's is not
        Image.fromarray(pixels).save(root / "images" / f"{stem}.png")
    Image.fromarray(pixels[..., 0]).save(root / "masks" / "short_mask.png")
    argv = [
        "run",
        "carvana-unet",
        *QUICK,
        f"data.root={root}",
        "data.images_dir=images",
        "data.masks_dir=masks",
        "data.mask_pattern={stem}_mask.png",
        "--out",
        str(workdir / "runs"),
    ]
    assert main(argv) == 2
    err = one_line_error(capsys)
    assert "data.mask_pattern" in err and "y" * 250 + ".png" in err, err
    assert "longer than the file system allows" in err
    assert not (workdir / "runs").exists()


def test_a_replayed_config_yaml_outside_a_run_dir_gets_a_safe_name(workdir):
    source = workdir / "config.yaml"  # at a root: its run's preset folder name is ''
    source.write_text(QUICKSTART.read_text())
    _, name = load_config(source, [])
    assert name == safe_component(name) and name
