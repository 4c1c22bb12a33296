"""`python -m tui_trainer` is the same as `tui-trainer`."""

from tui_trainer.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
