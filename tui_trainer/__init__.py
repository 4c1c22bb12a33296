"""tui-trainer: a terminal training console for PyTorch vision models."""

__version__ = "0.1.0"
