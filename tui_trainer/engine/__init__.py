"""The training engine: data, models, losses, metrics, loop, checkpoints, control, events.

Nothing under this package imports a UI library (textual, rich, tqdm).
"""
