"""Know before training: the LR range test (`lr_range`) and the batch-size finder
(`batch_size`), on the preset's real model and data, without a run directory.

Nothing here is imported by the engine; the CLI (`commands/find.py`) and the setup screen
(through `find.service`, which imports torch only when called) use it.
"""
