"""Entrypoints: the command line (and, with the serving issue, the API and the worker)."""
