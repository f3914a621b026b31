"""Data files shipped with the package (knowledge base, labelled intents, local tables)."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path
from typing import Any

import yaml


def data_path(name: str) -> Path:
    """Return the path of the packaged data file ``name``."""
    return Path(str(files(__package__).joinpath(name)))


def load_yaml(name: str) -> dict[str, Any]:
    """Load the packaged YAML file ``name`` (a mapping at top level)."""
    with data_path(name).open(encoding="utf-8") as fh:
        loaded = yaml.safe_load(fh)
    if not isinstance(loaded, dict):
        raise ValueError(f"{name}: expected a mapping at top level")
    return loaded
