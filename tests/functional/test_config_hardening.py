"""Bad input found by trying to break the config, class by class, through the real CLI.

Every row: exit code 2, exactly one line on stderr naming the key/file and what was expected,
and nothing written under --out. Rows are grouped by the class of problem (issue 17), with
neighbours of the reported example in each group.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from support.cli import one_line_error, write_file

from tui_trainer.cli import main

QUICK = ["epochs=1", "device=cpu"]
USER = ["model.kwargs={}"]  # the quickstart preset's kwargs belong to small_cnn


def _laughs(levels: int = 9) -> str:
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i in range(1, levels):
        prev, cur = chr(96 + i), chr(97 + i)
        lines.append(f"{cur}: &{cur} [" + ",".join([f"*{prev}"] * 9) + "]")
    return "\n".join(lines) + "\n"


Builder = Callable[[Path], list[str]]

# (id, argv builder given tmp_path (cwd), fragments the one line must contain)
CASES: list[tuple[str, Builder, list[str]]] = [
    # -- preset resolution: empty or non-file presets are refused, naming the file
    (
        "empty local preset",
        lambda t: [_n(t, "presets/quickstart.yaml", "")],
        ["presets/quickstart.yaml", "empty preset"],
    ),
    (
        "comments-only preset",
        lambda t: [_w(t, "c.yaml", "# nothing\n\n")],
        ["c.yaml", "empty preset"],
    ),
    ("empty explicit file", lambda t: [_w(t, "e.yaml", "")], ["e.yaml", "empty preset"]),
    (
        "directory as local preset",
        lambda t: [_d(t, "presets/quickstart.yaml")],
        ["presets/quickstart.yaml", "is a directory"],
    ),
    ("directory as explicit path", lambda t: [_d(t, "d.yaml") + "/"], ["d.yaml", "is a directory"]),
    (
        "unknown name with a file of that name here",
        lambda t: [_n(t, "mypreset", "epochs: 1\n")],
        ["no such preset", "./mypreset"],
    ),
    # -- YAML: bounded expansion, duplicate keys, decoding, structure
    ("billion laughs", lambda t: [_w(t, "l.yaml", _laughs())], ["l.yaml:", "expands to more than"]),
    (
        "billion laughs in an override",
        lambda t: ["quickstart", "data.class_names=" + _flow_laughs()],
        ["override", "expands to more than"],
    ),
    (
        "recursive alias",
        lambda t: [_w(t, "r.yaml", "model:\n  kwargs: &k {a: *k}\n")],
        ["r.yaml:2", "cycle"],
    ),
    (
        "deep nesting",
        lambda t: [_w(t, "n.yaml", "model:\n  kwargs:\n    a: " + "[" * 500 + "]" * 500 + "\n")],
        ["n.yaml:3", "nested deeper"],
    ),
    (
        "duplicate top-level key",
        lambda t: [_w(t, "k.yaml", "epochs: 1\ndata:\n  name: digits\nepochs: 2\n")],
        ["k.yaml:4", "epochs", "duplicate key", "line 1"],
    ),
    (
        "duplicate section",
        lambda t: [_w(t, "s.yaml", "optim:\n  lr: 0.1\noptim:\n  name: adam\n")],
        ["s.yaml:3", "optim", "duplicate key"],
    ),
    (
        "duplicate nested key",
        lambda t: [_w(t, "m.yaml", "data:\n  name: digits\n  batch_size: 8\n  name: fake\n")],
        ["m.yaml:4", "data.name", "duplicate key"],
    ),
    (
        "duplicate key in an override",
        lambda t: ["quickstart", "model.kwargs={a: 1, a: 2}"],
        ["override", "a: duplicate key"],
    ),
    (
        "latin-1 bytes",
        lambda t: [_w(t, "u.yaml", b"epochs: 2\ndescription: caf\xe9\n")],
        ["u.yaml:2", "not UTF-8", "0xe9", "offset 26"],
    ),
    (
        "utf-16 file",
        lambda t: [_w(t, "w.yaml", "epochs: 2\n".encode("utf-16"))],
        ["w.yaml:1", "not UTF-8", "offset 0"],
    ),
    (
        "control character",
        lambda t: [_w(t, "x.yaml", "description: a\x07b\n")],
        ["x.yaml:1", "invalid YAML", "not allowed"],
    ),
    ("non-string key", lambda t: [_w(t, "i.yaml", "1: a\n")], ["i.yaml:1", "not a string"]),
    (
        "two documents",
        lambda t: [_w(t, "t.yaml", "epochs: 1\n---\nepochs: 2\n")],
        ["t.yaml:2", "invalid YAML"],
    ),
    (
        "python tag",
        lambda t: [_w(t, "p.yaml", "epochs: !!python/object/apply:os.getcwd []\n")],
        ["p.yaml:1", "invalid YAML"],
    ),
    (
        "bad explicit tag",
        lambda t: [_w(t, "g.yaml", "epochs: !!int many\n")],
        ["g.yaml", "does not fit its tag"],
    ),
    (
        "huge file",
        lambda t: [_w(t, "h.yaml", "# " + "x" * (1024 * 1024 + 10) + "\nepochs: 1\n")],
        ["h.yaml", "larger than"],
    ),
    # -- values: strict bools vs numbers vs strings
    (
        "bool as int",
        lambda t: ["quickstart", "epochs=true"],
        ["epochs", "expected an integer", "True"],
    ),
    (
        "bool as batch size",
        lambda t: ["quickstart", "data.batch_size=yes"],
        ["data.batch_size", "expected an integer"],
    ),
    ("bool as float", lambda t: ["quickstart", "optim.lr=true"], ["optim.lr", "expected a number"]),
    (
        "int as bool",
        lambda t: ["quickstart", "deterministic=1"],
        ["deterministic", "true or false"],
    ),
    (
        "string as bool",
        lambda t: ["quickstart", "data.augment.hflip=sometimes"],
        ["data.augment.hflip", "true or false"],
    ),
    (
        "float as int",
        lambda t: ["quickstart", "epochs=2.5"],
        ["epochs", "expected an integer", "2.5"],
    ),
    (
        "quoted number as int",
        lambda t: ["quickstart", "epochs='3'"],
        ["epochs", "expected an integer", "'3'"],
    ),
    (
        "number as string",
        lambda t: ["quickstart", "description=5"],
        ["description", "expected a string"],
    ),
    (
        "bool in a preset",
        lambda t: [_w(t, "b.yaml", "epochs: true\n")],
        ["b.yaml:1", "epochs", "expected an integer"],
    ),
    # -- values: a scalar never replaces a mapping
    (
        "scalar for a section",
        lambda t: ["quickstart", "data=5", "data.name=digits"],
        ["override 'data=5'", "data is a section"],
    ),
    ("null for a section", lambda t: ["quickstart", "optim=null"], ["optim is a section"]),
    (
        "list for a section",
        lambda t: ["quickstart", "scheduler=[cosine]"],
        ["scheduler is a section"],
    ),
    (
        "scalar for a nested section",
        lambda t: ["quickstart", "data.augment=true"],
        ["data.augment is a section"],
    ),
    (
        "scalar for model.kwargs",
        lambda t: ["quickstart", "model.kwargs=3"],
        ["model.kwargs is a mapping"],
    ),
    ("key under a value", lambda t: ["quickstart", "epochs.max=3"], ["epochs is a single value"]),
    (
        "scalar for a section in a preset",
        lambda t: [_w(t, "v.yaml", "data: 5\n")],
        ["v.yaml:1", "data", "mapping"],
    ),
    # -- values: every float finite
    ("inf learning rate", lambda t: ["quickstart", "optim.lr=.inf"], ["optim.lr", "finite"]),
    (
        "overflowing learning rate",
        lambda t: ["quickstart", "optim.lr=1e999"],
        ["optim.lr", "finite"],
    ),
    (
        "word inf",
        lambda t: ["quickstart", "optim.lr=inf"],
        ["optim.lr", "expected a number", "'inf'"],
    ),
    (
        "nan min_lr",
        lambda t: ["quickstart", "scheduler.min_lr=.nan"],
        ["scheduler.min_lr", "finite"],
    ),
    (
        "inf in a list",
        lambda t: ["quickstart", "data.normalize={mean: [0.5], std: [.inf]}"],
        ["data.normalize.std.0", "finite"],
    ),
    (
        "inf in a tuple",
        lambda t: ["quickstart", "optim.betas=[.inf, 0.9]"],
        ["optim.betas.0", "finite"],
    ),
    (
        "inf interval",
        lambda t: ["quickstart", "progress.interval=.inf"],
        ["progress.interval", "finite"],
    ),
    ("inf timeout", lambda t: ["quickstart", "dist_timeout=.inf"], ["dist_timeout", "finite"]),
    (
        "seed beyond 64 bits",
        lambda t: ["quickstart", f"seed={2**70}"],
        ["seed", "expected a value <"],
    ),
    # -- values: freeze knobs without freeze.enabled
    (
        "freeze.epochs alone",
        lambda t: ["quickstart", "freeze.epochs=1"],
        ["freeze.epochs", "freeze.enabled=true"],
    ),
    (
        "freeze.batch_size alone",
        lambda t: ["quickstart", "freeze.batch_size=8"],
        ["freeze.batch_size", "freeze.enabled"],
    ),
    (
        "freeze.patterns alone",
        lambda t: ["quickstart", "freeze.patterns=[fc.*]"],
        ["freeze.patterns", "freeze.enabled"],
    ),
    (
        "freeze knob in an override, preset knobs too",
        lambda t: [_w(t, "f.yaml", "freeze:\n  epochs: 1\n"), "freeze.batch_size=8"],
        ["override 'freeze.batch_size=8'", "freeze.batch_size", "freeze.enabled"],
    ),
    # -- values: freezing every parameter
    (
        "freeze pattern '*'",
        lambda t: ["quickstart", *QUICK, "freeze.enabled=true", "freeze.patterns=['*']"],
        ["freeze.patterns", "all 10 parameters", "nothing would train"],
    ),
    (
        "patterns covering all",
        lambda t: [
            "quickstart",
            *QUICK,
            "freeze.enabled=true",
            "freeze.patterns=[features.*, classifier.*, fc.*]",
        ],
        ["freeze.patterns", "nothing would train"],
    ),
    # -- values: module:Class must be a class (an nn.Module) before anything is called
    (
        "function as model",
        lambda t: ["quickstart", *QUICK, *USER, "model.name=support.pycode_targets:make_model"],
        ["model.name", "is a function", "nn.Module"],
    ),
    (
        "non-module class",
        lambda t: ["quickstart", *QUICK, *USER, "model.name=support.pycode_targets:NotAModule"],
        ["model.name", "not a torch.nn.Module subclass"],
    ),
    (
        "instance as model",
        lambda t: ["quickstart", *QUICK, *USER, "model.name=support.pycode_targets:INSTANCE"],
        ["model.name", "is a Linear"],
    ),
    (
        "builtin function",
        lambda t: ["quickstart", *QUICK, *USER, "model.name=os:getcwd"],
        ["model.name", "is a function"],
    ),
    (
        "missing attribute",
        lambda t: ["quickstart", *QUICK, *USER, "model.name=support.pycode_targets:Nope"],
        ["model.name", "no attribute 'Nope'"],
    ),
    (
        "missing module",
        lambda t: ["quickstart", *QUICK, *USER, "model.name=no_such_mod_x:Net"],
        ["model.name", "no module named 'no_such_mod_x'"],
    ),
    (
        "module failing on import",
        lambda t: ["quickstart", *QUICK, *USER, "model.name=support.pycode_import_fails:Net"],
        ["model.name", "importing module 'support.pycode_import_fails' failed", "ImportError"],
    ),
    (
        "malformed name",
        lambda t: ["quickstart", *QUICK, *USER, "model.name=a b:C"],
        ["model.name", "package.module:ClassName"],
    ),
    # -- model.kwargs the model cannot use
    (
        "list of the wrong length",
        lambda t: ["quickstart", *QUICK, "model.kwargs.channels=[4, 8, 16]"],
        ["model.kwargs", "small_cnn", "ValueError"],
    ),
    (
        "unknown kwarg",
        lambda t: ["quickstart", *QUICK, "model.kwargs.depth=3"],
        ["model.kwargs", "small_cnn", "depth"],
    ),
    (
        "kwarg of the wrong type",
        lambda t: ["quickstart", *QUICK, "model.kwargs.hidden=wide"],
        ["model.kwargs", "small_cnn"],
    ),
    (
        "user class, wrong kwargs",
        lambda t: [
            "quickstart",
            *QUICK,
            *USER,
            "model.kwargs.widths=[4, 8, 16]",
            "model.name=support.pycode_targets:Picky",
        ],
        ["model.kwargs", "support.pycode_targets:Picky", "ValueError"],
    ),
    (
        "user class failing by itself",
        lambda t: ["quickstart", *QUICK, *USER, "model.name=support.pycode_targets:Broken"],
        ["model.name", "building support.pycode_targets:Broken failed", "RuntimeError"],
    ),
    (
        "torchvision, wrong kwarg",
        lambda t: ["quickstart", *QUICK, "model.name=resnet18", "model.kwargs={layers: [1, 2]}"],
        ["model.kwargs", "resnet18"],
    ),
]


def _w(tmp: Path, rel: str, data: str | bytes) -> str:
    return write_file(tmp / rel, data)


def _n(tmp: Path, rel: str, data: str) -> str:
    """Write a file but pass only its preset name (resolution picks it up, or not)."""
    write_file(tmp / rel, data)
    return Path(rel).stem if rel.startswith("presets/") else rel


def _d(tmp: Path, rel: str) -> str:
    (tmp / rel).mkdir(parents=True)
    return Path(rel).stem if rel.startswith("presets/") else rel


def _flow_laughs() -> str:
    text = "[&a [lol, lol, lol, lol, lol, lol, lol, lol, lol]"
    for i in range(1, 9):
        text += f", &a{i} [" + ", ".join(["*a" if i == 1 else f"*a{i - 1}"] * 9) + "]"
    return text + "]"


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh working directory (its own ./presets/) with the test helpers importable."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TUI_TRAINER_TEST_MARKER", str(tmp_path / "called.txt"))
    return tmp_path


@pytest.mark.parametrize(("name", "build", "fragments"), CASES, ids=[c[0] for c in CASES])
def test_bad_input_is_one_line_exit_2_nothing_written(workdir, capsys, name, build, fragments):
    out = workdir / "runs"
    argv = ["run", *build(workdir), "--out", str(out)]
    assert main(argv) == 2
    err = one_line_error(capsys)
    for fragment in fragments:
        assert fragment in err, err
    assert not out.exists(), "nothing may be written for bad input"
    assert not (workdir / "called.txt").exists(), "a refused module:Class was called"


# Problems that only building the model shows (check builds nothing, by design).
NEEDS_BUILD = {
    "freeze pattern '*'",
    "patterns covering all",
    "list of the wrong length",
    "unknown kwarg",
    "kwarg of the wrong type",
    "user class, wrong kwargs",
    "user class failing by itself",
    "torchvision, wrong kwarg",
}
CHECK_CASES = [c for c in CASES if c[0] not in NEEDS_BUILD]


@pytest.mark.parametrize(
    ("name", "build", "fragments"), CHECK_CASES, ids=[c[0] for c in CHECK_CASES]
)
def test_check_refuses_the_same(workdir, capsys, name, build, fragments):
    """`check` never calls a config valid that `run` refuses for its config alone."""
    argv = ["check", *build(workdir)]
    assert main(argv) == 2
    err = one_line_error(capsys)
    assert fragments[0] in err, err
    assert not (workdir / "called.txt").exists()


def test_billion_laughs_is_refused_fast_with_bounded_memory(workdir):
    import time
    import tracemalloc

    from tui_trainer.config import load_config
    from tui_trainer.errors import UserError

    path = _w(workdir, "l.yaml", _laughs(12))
    tracemalloc.start()
    t0 = time.perf_counter()
    with pytest.raises(UserError, match="expands to more than"):
        load_config(path)
    elapsed = time.perf_counter() - t0
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert elapsed < 2.0
    assert peak < 20 * 1024 * 1024, peak


def test_aliases_within_the_limits_still_work(workdir, capsys):
    preset = _w(
        workdir,
        "anchors.yaml",
        "base: &opt {name: adam, lr: 0.002}\noptim:\n  <<: *opt\n  lr: 0.003\nepochs: 2\n",
    )
    # `base` is not a config key: the anchor must live under a real key for the schema
    assert main(["check", preset]) == 2
    assert "base: unknown key" in capsys.readouterr().err
    preset = _w(workdir, "anchors2.yaml", "optim: &opt {name: adam, lr: 1e-3}\nepochs: 2\n")
    assert main(["check", preset]) == 0
    out = capsys.readouterr().out
    assert "name: adam" in out and "lr: 0.001" in out


# -- the runs root (--out) that cannot take a run directory


def _entries(path: Path) -> list[str]:
    return sorted(str(p.relative_to(path)) for p in path.rglob("*")) if path.is_dir() else []


def test_out_is_a_file(workdir, capsys):
    target = workdir / "afile"
    target.write_text("keep me")
    assert main(["run", "quickstart", *QUICK, "--out", str(target)]) == 2
    err = one_line_error(capsys)
    assert "--out" in err and "is a file" in err
    assert target.read_text() == "keep me"


def test_out_below_a_file(workdir, capsys):
    (workdir / "afile").write_text("")
    assert main(["run", "quickstart", *QUICK, "--out", str(workdir / "afile" / "runs")]) == 2
    err = one_line_error(capsys)
    assert "--out" in err and "afile' is a file" in err


def test_out_key_in_the_config_is_checked_too(workdir, capsys):
    (workdir / "afile").write_text("")
    assert main(["run", "quickstart", *QUICK, f"out={workdir / 'afile'}"]) == 2
    assert "is a file" in one_line_error(capsys)


def test_out_immutable(workdir, capsys):
    root = workdir / "frozen"
    root.mkdir()
    if shutil.which("chattr") is None:
        pytest.skip("no chattr here")
    if subprocess.run(["chattr", "+i", str(root)], capture_output=True).returncode != 0:
        pytest.skip("chattr +i not allowed here (needs root and a file system that has it)")
    try:
        assert main(["run", "quickstart", *QUICK, "--out", str(root)]) == 2
        err = one_line_error(capsys)
        assert "--out" in err and "not writable" in err
        assert _entries(root) == []
    finally:
        subprocess.run(["chattr", "-i", str(root)], check=False)


def test_out_read_only(workdir, capsys):
    root = workdir / "ro"
    root.mkdir()
    mounted = False
    if os.geteuid() == 0:  # root ignores permission bits: use a read-only bind mount
        src = workdir / "ro-src"
        src.mkdir()
        ok = subprocess.run(["mount", "--bind", str(src), str(root)], capture_output=True)
        if ok.returncode != 0:
            pytest.skip("cannot bind-mount here")
        mounted = True
        ro = subprocess.run(["mount", "-o", "remount,ro,bind", str(root)], capture_output=True)
        if ro.returncode != 0:
            subprocess.run(["umount", str(root)], check=False)
            pytest.skip("cannot remount read-only here")
    else:
        root.chmod(0o555)
    try:
        assert main(["run", "quickstart", *QUICK, "--out", str(root / "runs")]) == 2
        err = one_line_error(capsys)
        assert "--out" in err and "not writable" in err
        assert _entries(root) == []
    finally:
        if mounted:
            subprocess.run(["umount", str(root)], check=False)
        else:
            root.chmod(0o755)


# -- command-line options: one line, exit 2


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (["gpus", "--watch", "--interval", "0"], "--interval: expected a number of seconds > 0"),
        (["gpus", "--watch", "--interval", "-1"], "> 0, got '-1'"),
        (["gpus", "--watch", "--interval", "nan"], "> 0, got 'nan'"),
        (["gpus", "--watch", "--interval", "inf"], "> 0, got 'inf'"),
        (["gpus", "--interval", "soon"], "expected a number of seconds, got 'soon'"),
        (["gpus", "--bogus"], "unrecognized arguments: --bogus"),
        (["run", "quickstart", "--nproc", "two"], "--nproc"),
        (["check"], "the following arguments are required: preset"),
    ],
)
def test_bad_options_are_one_line(workdir, capsys, argv, fragment):
    assert main(argv) == 2
    err = one_line_error(capsys)
    assert fragment in err, err
    assert "--help" in err


# -- what is accepted, with a warning, rather than refused


def test_freeze_knobs_with_freeze_explicitly_off_warn(workdir, capsys):
    """A preset's freeze phase switched off by an override: kept, but said to be ignored."""
    preset = _w(workdir, "two-phase.yaml", "freeze:\n  enabled: true\n  epochs: 1\n")
    assert main(["check", preset, "freeze.enabled=false"]) == 0
    out = capsys.readouterr().out
    assert "# warning: freeze.epochs ignored: freeze.enabled is false" in out
    runs = workdir / "runs"
    rc = main(["run", preset, "freeze.enabled=false", *QUICK, "--out", str(runs)])
    assert rc == 0
    assert "warning: freeze.epochs ignored" in capsys.readouterr().out


def test_a_preset_may_prepare_the_freeze_phase_for_the_toggle(workdir, capsys):
    """Knobs in a preset with `enabled` left out: valid (the console's toggle turns it on)."""
    preset = _w(workdir, "prepared.yaml", "freeze:\n  epochs: 1\n  batch_size: 8\n")
    assert main(["check", preset]) == 0
    out = capsys.readouterr().out
    assert "# warning: freeze.epochs, freeze.batch_size ignored: freeze.enabled is false" in out
    assert main(["check", preset, "freeze.enabled=true"]) == 0
    out = capsys.readouterr().out
    assert "ignored" not in out and "backbone frozen for 1 epoch(s) at batch size 8" in out


def test_check_warns_about_an_out_key_that_a_run_would_refuse(workdir, capsys):
    (workdir / "afile").write_text("")
    assert main(["check", "quickstart", f"out={workdir / 'afile'}"]) == 0
    assert "# warning: out: " in capsys.readouterr().out
