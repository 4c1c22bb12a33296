"""Screens of the console: setup, run, summary, and the help and quit dialogs."""
