"""The ``eco2`` command line (DESIGN.md §6)."""
