"""eval / predict / export outputs: a full disk is one line and exit 1 with nothing left behind
(export never aborts inside torch's C++ writer), and processes racing for one `--out` folder
all get a clean answer."""

from __future__ import annotations

import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from PIL import Image
from support.cli import one_line_error
from support.disk import small_disk
from support.runs import run_preset

from tui_trainer.after import outputs
from tui_trainer.after.export import missing_onnx_packages
from tui_trainer.after.outputs import OutputFailed, staged_dir, write_files
from tui_trainer.cli import main
from tui_trainer.errors import UserError


def fill(disk: Path, leave: int = 0) -> None:
    """Fill `disk` with a ballast file, leaving about `leave` bytes free."""
    with open(disk / "ballast", "ab") as fh:
        while (free := shutil.disk_usage(disk).free - leave) > 0:
            try:
                fh.write(b"\0" * max(min(free, 65536), 4096))
                fh.flush()
            except OSError:
                break


def listing(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*")}


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    _finished, run_dir = run_preset(tmp_path_factory.mktemp("runs"), ["epochs=1"])
    return run_dir


@pytest.fixture
def full_disk_run(trained, tmp_path):
    """(a copy of the run on a tmpfs that is then filled, an image folder elsewhere)."""
    images = tmp_path / "imgs"
    images.mkdir()
    Image.new("L", (8, 8), 90).save(images / "a.png")
    with small_disk(tmp_path / "disk", "2m") as disk:
        run_dir = disk / "run"
        shutil.copytree(trained, run_dir, ignore=shutil.ignore_patterns(".lock", ".endpoint"))
        fill(disk)
        yield run_dir, images


def _no_space_line(capsys) -> str:
    err = one_line_error(capsys)
    assert "no space left on device" in err and "nothing was written" in err
    return err


def test_eval_on_a_full_disk_is_one_line_exit_1_nothing_written(full_disk_run, capsys):
    run_dir, _images = full_disk_run
    before = listing(run_dir)
    assert main(["eval", str(run_dir)]) == 1
    assert f"'{run_dir / 'eval'}'" in _no_space_line(capsys)
    assert listing(run_dir) == before


def test_predict_on_a_full_disk_is_one_line_exit_1_nothing_written(full_disk_run, capsys):
    run_dir, images = full_disk_run
    before = listing(run_dir.parent)
    assert main(["predict", str(run_dir), str(images)]) == 1
    _no_space_line(capsys)
    out = run_dir.parent / "pred"
    assert main(["predict", str(run_dir), str(images), "--out", str(out)]) == 1
    assert "--out:" in _no_space_line(capsys)
    assert listing(run_dir.parent) == before


@pytest.mark.parametrize("fmt", ["torchscript", "onnx"])
def test_export_on_a_full_disk_is_one_line_exit_1_no_temp_files(full_disk_run, fmt):
    if fmt == "onnx" and missing_onnx_packages():
        pytest.skip("the onnx extra is not installed")
    run_dir, _images = full_disk_run
    before = listing(run_dir)
    for _try in range(2):  # a process of its own: the old writer aborted the interpreter
        done = subprocess.run(
            [sys.executable, "-m", "tui_trainer", "export", str(run_dir), "--format", fmt],
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 1, done.stderr[-2000:]
        err = done.stderr.strip()
        assert len(err.splitlines()) == 1 and err.startswith("tui-trainer: error: "), err
        assert "no space left on device" in err and "needed" in err
        assert listing(run_dir) == before  # no export/ folder, no 0-byte temp files


def test_a_write_failing_midway_removes_every_temp_file(tmp_path, monkeypatch):
    with small_disk(tmp_path / "disk", "200k") as disk:
        fill(disk, leave=64 * 1024)
        monkeypatch.setattr(outputs, "_free", lambda folder: None)  # as if space were unknown
        files = [(disk / "model.pt", b"x" * 32 * 1024), (disk / "model.pt.json", b"y" * 64 * 1024)]
        with pytest.raises(OutputFailed, match=r"no space left on device.*nothing was written"):
            write_files(files, "--out")
        assert listing(disk) == {"ballast"}


# -- racing for one --out --------------------------------------------------------------------
def _race(final: Path, n: int, renumber: bool) -> list[object]:
    """`n` threads stage `final` at once (all past the first check before any renames)."""
    barrier = threading.Barrier(n)
    results: list[object] = [None] * n

    def stage(i: int) -> None:
        try:
            with staged_dir(final, "--out", **({"renumber": True} if renumber else {})) as staged:
                tmp = getattr(staged, "tmp", staged)
                (tmp / "predictions.csv").write_text(f"writer {i}\n")
                barrier.wait(timeout=30)
            results[i] = getattr(staged, "final", final)
        except Exception as exc:  # what each racer ends with
            results[i] = exc

    threads = [threading.Thread(target=stage, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    return results


def test_eight_writers_of_one_out_folder_one_wins_the_rest_are_refused_cleanly(tmp_path):
    final = tmp_path / "out" / "pred"
    results = _race(final, 8, renumber=False)
    won = [r for r in results if isinstance(r, Path)]
    refused = [r for r in results if isinstance(r, UserError)]
    assert len(won) == 1 and len(refused) == 7, results
    for exc in refused:
        assert str(exc) == f"--out: '{final}' already exists and is not empty (choose a new folder)"
    assert listing(tmp_path / "out") == {"pred", "pred/predictions.csv"}  # no temp folder left


def test_default_folders_taken_meanwhile_are_renumbered(tmp_path):
    final = tmp_path / "predict" / "20260101-000000"
    results = _race(final, 4, renumber=True)
    assert all(isinstance(r, Path) for r in results), results
    assert sorted(p.name for p in results) == sorted(
        ["20260101-000000", "20260101-000000-2", "20260101-000000-3", "20260101-000000-4"]
    )
    assert all((p / "predictions.csv").is_file() for p in results)
