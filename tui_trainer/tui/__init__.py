"""The interactive console (Textual): setup screen, run screen, summary.

`run_app` in `tui_trainer.tui.entry` is the entry point; the CLI imports it lazily so headless
commands never load Textual.
"""
