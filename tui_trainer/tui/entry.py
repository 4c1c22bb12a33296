"""The console's entry points for the CLI: `run_app` (the console) and `run_watch` (`watch`).

Bad input fails before the screen opens; after the app exits they print how the last run ended
or that a watched run goes on (`exit_lines`).
"""

from __future__ import annotations

from tui_trainer.config.loader import resolve_preset, resumed_config
from tui_trainer.tui.app import TrainerApp
from tui_trainer.tui.exit_lines import print_left_running, print_next_steps
from tui_trainer.tui.pictures.mode import prepare


def run_app(
    preset: str | None = None,
    overrides: list[str] | None = None,
    start: bool = False,
    out: str | None = None,
    resume: str | None = None,
    images: str = "auto",
) -> int:
    """Open the console; returns the exit code (0, 1 if the last run failed, 128+N on signal N).

    `preset` (a name or a YAML path) is selected in the setup screen; `overrides` fill the
    toggles (others pass through to the run); `start` goes straight to the run screen when the
    values are valid; `images` is how pictures are drawn (`tui.pictures.mode`). Raises
    `UserError` before the UI opens when `preset` does not exist.
    """
    if resume is not None:  # bad input fails here, before the screen opens
        from tui_trainer.session import check_resume

        resumed_config(resume, preset, list(overrides or []))
        check_resume(resume)
    elif preset is not None:
        resolve_preset(preset)
    shown = prepare(images)  # before the app starts: textual-image asks the terminal
    app = TrainerApp(
        preset, overrides, start, out, handle_signals=True, resume=resume, images=shown
    )
    app.run()
    print_next_steps(app.last_result)
    print_left_running(app.left_running)
    return app.return_code if app.return_code is not None else 0


def run_watch(run_dir: str, images: str = "auto") -> int:
    """`tui-trainer watch RUN_DIR`: the run screen for a run in another process; exit 0.
    `images`: how pictures are drawn (`tui.pictures.mode`)."""
    app = TrainerApp(handle_signals=True, watch=run_dir, images=prepare(images))
    app.run()
    print_left_running(app.left_running)
    if app.watch_dir is not None:
        return 0
    print_next_steps(app.last_result)  # a run of its own, started with n and then Start
    return app.return_code if app.return_code is not None else 0
