"""The command layer: one row per `tui-trainer` command (`table.COMMANDS`), each a parser builder
and a handler. Nothing heavy is imported at the top of any module here; each handler imports
what its command needs when it runs, so `--help`, `presets`, `check` and `gpus` stay light."""
