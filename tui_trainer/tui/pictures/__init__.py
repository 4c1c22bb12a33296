"""Pictures in the console: the image mode (`mode`), tile captions and sizes (`tiles`).

The widgets are in `tui.widgets.picture_tile`, `samples_panel` and `confusion`; the gallery in
`tui.screens.gallery`. The picture sets themselves are `tui_trainer.runlog.pictures`.
"""
