"""Test helpers; pyproject puts tests/ on pytest's pythonpath (`from support.X import`).

runs (tiny in-process runs, a recording sink, run directories), cli (files and the one-line
error), procs (process groups), scripted (the fake engine), pilot (Pilot), runsdirs (run
directories written from the fake), fake_nvml (NVML), tinymodels (`support.tinymodels:Class`
models), pycode_targets / pycode_import_fails (`module:Class` names that are not usable models),
import_probe (a script: the modules a command imports). Fixtures stay in tests/conftest.py.
"""
