"""Datasets for the engine: embedded (digits), generated (fake), CIFAR-10 and image folders."""

from tui_trainer.engine.data.bundle import DataBundle, build_data

__all__ = ["DataBundle", "build_data"]
