"""Generators of the documentation site's derived pages (`python -m tools.docs --help`)."""
