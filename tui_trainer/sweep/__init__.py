"""Sweeps: a preset tried with many overrides, each trial a queued job (`tui_trainer.queue`).

`space` parses the command line's `key=a,b` lists and `key=loguniform:1e-4:1e-1` distributions,
`spec` is what a sweep records, `create` queues one, `planner` is the scheduler's hook (more
trials, results told to Optuna, pruning), `leaderboard` ranks the trials, `best` saves the
winner as a preset. Nothing here imports torch, the engine or a front end.
"""
