"""The run queue: jobs in a per-user SQLite database, one scheduler that starts them.

`store` (the database: jobs, sweeps, every state change one transaction), `admission` (which
queued jobs start now, on which GPUs: a pure function), `scheduler` (the loop), `daemon` (one
scheduler per user and machine, in its own session). No torch, no engine, no UI here.
"""
