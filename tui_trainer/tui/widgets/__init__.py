"""Widgets of the console: progress bars, charts, metrics table, log, state badge, GPU slot."""
