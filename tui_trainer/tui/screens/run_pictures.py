"""The run screen's samples panel keys: `i` shows / hides it, `[` / `]` step through epochs.

While hidden nothing is read or mounted: the panel is created when shown and removed when
hidden. Shown, it takes the plots' place (narrow terminals: the epoch table's too) and lists
the run's sets from its run directory (`runlog.pictures.latest_samples`) when it opens and
again at each `SamplesWritten`.
"""

from __future__ import annotations

from pathlib import Path

from textual.containers import Container

from tui_trainer.runlog.pictures import latest_samples
from tui_trainer.tui.screens.run_steering import SteeringScreen
from tui_trainer.tui.widgets.samples_panel import SamplesPanel

PANEL_ID = "samples-panel"
PICTURES_KEY_SHOWN = (80, 120)
"""From these widths on the footer lists `i Pictures` (without, with the steering keys there):
narrower, `i` works all the same (and `?` lists it), and the footer keeps q and ? in view."""


class PicturesScreen(SteeringScreen):
    """A run screen with a samples panel (the run screen defines the keys)."""

    source: object

    def _draw_charts(self) -> None:
        """Redraw the plots now (the run screen's own; skipped while the panel hides them)."""
        raise NotImplementedError

    def _run_dir(self) -> Path | None:
        """The run's directory: from the run's start, else the watched source's."""
        run_dir = self.model.run_dir or getattr(self.source, "run_dir", None)
        return Path(run_dir) if run_dir else None

    def samples_panel(self) -> SamplesPanel | None:
        """The panel while shown."""
        found = self.query(f"#{PANEL_ID}")
        return found.first(SamplesPanel) if found else None

    def _pictures_key_shown(self) -> bool:
        """True when the footer has room for `i Pictures` beside the other keys."""
        width = self.size.width
        return width >= PICTURES_KEY_SHOWN[1 if self._steer_keys_shown() else 0]

    def action_pictures_key(self) -> None:
        """i where the footer has no room for it: as `action_pictures`."""
        self.action_pictures()

    def action_pictures(self) -> None:
        """i: show the samples panel in the plots' place, or hide it (and read nothing)."""
        panel = self.samples_panel()
        if panel is not None:
            panel.remove()
            self.remove_class("-pictures")
            self._draw_charts()  # not drawn while hidden
            return
        panel = SamplesPanel(id=PANEL_ID, classes="panel")
        self.add_class("-pictures")
        self.query_one("#run-grid", Container).mount(panel, after="#progress-panel")
        self.call_after_refresh(self.samples_written)

    def action_samples_step(self, delta: int) -> None:
        """[ / ]: an earlier / later epoch's samples (while the panel is shown)."""
        panel = self.samples_panel()
        if panel is not None:
            panel.step(delta)

    def samples_written(self) -> None:
        """A new set is in place (or the panel just opened): list the sets again."""
        panel = self.samples_panel()
        run_dir = self._run_dir()
        if panel is not None:
            panel.show_folders(latest_samples(run_dir) if run_dir else [])
