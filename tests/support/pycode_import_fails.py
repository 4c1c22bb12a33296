"""A module whose import fails (named by a preset: importing it runs it)."""

raise ImportError("this module refuses to load: missing dependency 'zzz'")
