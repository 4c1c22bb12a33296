"""Event subscribers that are not the TUI: the run directory writer and the console."""
