"""House rules a review would otherwise have to catch: layering, docstrings, module size."""

from __future__ import annotations

import ast
import importlib
import pkgutil
from pathlib import Path

import eco2

SRC = Path(eco2.__file__).parent

# What each layer may import from inside the package (DESIGN.md §7).
ALLOWED = {
    "domain": {"domain"},
    "application": {"domain", "application"},
    "pipeline": {"domain", "application", "pipeline"},
    "infrastructure": {"domain", "application", "infrastructure"},
    "settings": set(),
    "entrypoints": {
        "domain",
        "application",
        "pipeline",
        "infrastructure",
        "entrypoints",
        "bootstrap",
        "settings",
    },
    "bootstrap": {
        "domain",
        "application",
        "pipeline",
        "infrastructure",
        "settings",
        "bootstrap",
        "entrypoints",
    },
}


def layer_of(path: Path) -> str:
    return path.relative_to(SRC).parts[0].removesuffix(".py")


def eco2_imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        else:
            continue
        for name in names:
            parts = name.split(".")
            if parts[0] == "eco2" and len(parts) > 1:
                found.add(parts[1])
    return found


def modules() -> list[Path]:
    return [p for p in SRC.rglob("*.py") if p.relative_to(SRC).parts[0] != "__init__.py"]


def test_imports_point_inward() -> None:
    violations = []
    for path in modules():
        layer = layer_of(path)
        if layer not in ALLOWED:
            continue
        bad = eco2_imports(path) - ALLOWED[layer] - {layer}
        if bad:
            violations.append(f"{path.relative_to(SRC)} ({layer}) imports {sorted(bad)}")
    assert not violations, "\n".join(violations)


def test_layering_check_catches_an_outward_import(tmp_path: Path) -> None:
    bad = tmp_path / "x.py"
    bad.write_text("from eco2.infrastructure.memory import event_sink\n")
    assert eco2_imports(bad) - ALLOWED["domain"] == {"infrastructure"}


def test_every_module_has_a_docstring_and_imports_cleanly() -> None:
    missing = []
    for info in pkgutil.walk_packages(eco2.__path__, "eco2."):
        module = importlib.import_module(info.name)
        if not (module.__doc__ or "").strip():
            missing.append(info.name)
    assert not missing, f"modules without a docstring: {missing}"


def test_modules_stay_small() -> None:
    too_long = [
        f"{p.relative_to(SRC)}: {n}"
        for p in modules()
        if (n := len(p.read_text(encoding="utf-8").splitlines())) > 320
    ]
    assert not too_long, too_long
