"""The widths at which the screens change layout (the app's breakpoints, and the screens that
lay themselves out)."""

NARROW = 100
"""Below this width the narrow layout applies (the app's breakpoint for run.tcss; the
comparison view's plots share one row and its tables stack)."""

TINY = 72
"""Below this width the screens' smallest layouts apply (class ``-tiny``, else ``-narrow``)."""
