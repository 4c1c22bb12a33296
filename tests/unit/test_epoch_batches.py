"""How an epoch splits into batches: one rule for the tensor and the image-folder loaders."""

from __future__ import annotations

from tui_trainer.engine.data.tensor_loader import epoch_batch_sizes


def test_full_batches_then_the_rest_and_no_lone_training_sample() -> None:
    assert epoch_batch_sizes(50, 7, drop_single=True) == [7] * 7  # 50 = 7*7 + 1
    assert epoch_batch_sizes(50, 7, drop_single=False) == [7] * 7 + [1]  # validation keeps it
    assert epoch_batch_sizes(52, 7, drop_single=True) == [7] * 7 + [3]
    assert epoch_batch_sizes(1, 7, drop_single=True) == [1]  # the only batch stays
