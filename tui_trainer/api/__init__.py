"""The script API: any training loop gets the console (`tui_trainer.init` returns a `Run`).

`init` creates a run directory with the same layout and writer as the engine's runs
(config.yaml, metrics.jsonl, metrics.csv, summary.json, checkpoints/, the one-writer lock and
the control socket), so `watch`, `ctl`, `runs`, `compare` and the runs browser work on it.

- `directory`: where the run directory goes (`TUI_TRAINER_RUN_DIR` from `tui-trainer exec`,
  else `out/<name>/<timestamp>`; `resume=RUN_DIR` reopens one), locking it, config.yaml.
- `control`: the engine's `Control`, plus the flag that spares an idle step the poll.
- `scalars`: `run.log` values kept on the device until a progress event is due.
- `tally`: steps, epochs, samples, data-wait, best epoch, and the events and summary they make.
- `steering`: ctl's `lr=...` on the tracked optimizer, `epochs=N` on `run.epochs`.
- `signals`: SIGINT/SIGTERM stop with a checkpoint, SIGHUP keeps running, SIGUSR1 checkpoints.
- `run`: `Run` and `init`.

`iterate` is for the training loader (its batches are the run's steps); validation stays the
script's own loop, its results go to `log_epoch`.
"""

from __future__ import annotations

from tui_trainer.api.run import Run, init

__all__ = ["Run", "init"]
