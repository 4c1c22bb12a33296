"""One preset resolution order (explicit path → ./presets/NAME.yaml → bundled), shared by `run`,
`check`, the console and the `presets` listing; the file used is named in the output."""

from __future__ import annotations

from pathlib import Path

import pytest

from tui_trainer.cli import main
from tui_trainer.config import load_config
from tui_trainer.config.loader import bundled_presets_dir, find_preset
from tui_trainer.config.preset_list import list_presets
from tui_trainer.errors import UserError


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _local(workdir: Path, name: str, text: str | bytes, suffix: str = ".yaml") -> Path:
    path = workdir / "presets" / f"{name}{suffix}"
    path.parent.mkdir(exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)
    return path


def test_bundled_preset_by_name(workdir):
    source = find_preset("quickstart")
    assert source.origin == "bundled"
    assert source.path == bundled_presets_dir() / "quickstart.yaml"


def test_edited_local_copy_wins_and_the_listing_agrees(workdir, capsys):
    bundled = (bundled_presets_dir() / "quickstart.yaml").read_text()
    local = _local(workdir, "quickstart", bundled.replace("epochs: 12", "epochs: 3"))
    config, name = load_config("quickstart")
    assert (config.epochs, name) == (3, "quickstart")
    listed = [p for p in list_presets() if p.name == "quickstart"]
    assert len(listed) == 1, "one entry per name: the one `run NAME` uses"
    assert listed[0].path == Path("presets/quickstart.yaml")
    assert listed[0].shadows == bundled_presets_dir() / "quickstart.yaml"
    assert main(["presets"]) == 0
    line = next(x for x in capsys.readouterr().out.splitlines() if x.startswith("quickstart "))
    assert "presets/quickstart.yaml" in line and "replaces the bundled one" in line
    assert main(["check", "quickstart"]) == 0
    first = capsys.readouterr().out.splitlines()[0]
    assert first == f"# preset: quickstart (valid), from {local.relative_to(workdir)} (local)"


def test_yaml_suffix_before_yml(workdir):
    _local(workdir, "mine", "epochs: 4\n", ".yml")
    _local(workdir, "mine", "epochs: 5\n", ".yaml")
    assert load_config("mine")[0].epochs == 5
    assert [p.path.name for p in list_presets() if p.name == "mine"] == ["mine.yaml"]


@pytest.mark.parametrize("kind", ["directory", "empty file", "yaml file"])
def test_nothing_in_the_working_directory_shadows_a_name(workdir, kind):
    target = workdir / "quickstart"
    if kind == "directory":
        target.mkdir()
    elif kind == "empty file":
        target.write_text("")
    else:
        target.write_text("epochs: 1\n")
    config, _ = load_config("quickstart")
    assert config.epochs == 12, "the bundled preset, not ./quickstart"
    assert find_preset("quickstart").origin == "bundled"


def test_a_path_is_a_path(workdir):
    (workdir / "quickstart").write_text("epochs: 2\ndescription: here\n")
    assert load_config("./quickstart")[0].epochs == 2
    assert find_preset("./quickstart").origin == "path"
    with pytest.raises(UserError, match="preset file not found"):
        find_preset("nowhere/x.yaml")


def test_run_names_the_file_it_uses(workdir, capsys):
    _local(workdir, "tiny", "data:\n  name: digits\nepochs: 1\ndevice: cpu\n")
    out = workdir / "runs"
    assert main(["run", "tiny", "--out", str(out), "progress.plain_interval=60"]) == 0
    first = capsys.readouterr().out.splitlines()[0]
    assert first == "preset: tiny from presets/tiny.yaml (local)"
    assert (out / "tiny").is_dir()


def test_broken_presets_are_listed_with_the_reason(workdir, capsys):
    _local(workdir, "latin", b"description: caf\xe9\n")
    _local(workdir, "empty", "")
    _local(workdir, "twice", "epochs: 1\nepochs: 2\n")
    _local(workdir, "list", "- a\n")
    (workdir / "presets" / "folder.yaml").mkdir()
    _local(workdir, "good", "description: fine\n")
    assert main(["presets"]) == 0
    lines = {x.split()[0]: x for x in capsys.readouterr().out.splitlines()}
    assert "BROKEN: line 1: not UTF-8 text: byte 0xe9 at byte offset 16" in lines["latin"]
    assert "BROKEN: empty preset" in lines["empty"]
    assert "BROKEN: line 2: epochs: duplicate key" in lines["twice"]
    assert "BROKEN: expected a mapping" in lines["list"]
    assert "BROKEN: is a directory" in lines["folder"]
    assert "fine" in lines["good"] and "BROKEN" not in lines["good"]
    assert "BROKEN" not in lines["quickstart"]
