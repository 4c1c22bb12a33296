"""After training: `eval`, `predict` and `export` from a run directory.

Everything here reads a run directory (config.yaml + checkpoints) through the engine's own
builders, evaluators and validation pass, and writes its results atomically into new folders
(`eval/<timestamp>/`, `predict/<timestamp>/`, `export/`) so no earlier result is ever replaced.
"""
