"""Build hook: generate the character service's gRPC modules from ``proto/`` at build time.

Project metadata lives in ``pyproject.toml``; this file only replaces ``build_py`` so that every
build runs ``grpc_tools.protoc`` (grpcio-tools is a ``[build-system] requires`` entry):

- a regular build (``pip install .``, a wheel) writes the modules into the build directory, so
  they ship inside the wheel and never touch the source tree;
- an editable build (``pip install -e .``) writes them into
  ``src/eco2/infrastructure/integrations/character_grpc/_generated/`` (gitignored), where the
  editable install imports them from; after editing the ``.proto``, run ``make proto``.

The generator is loaded by file path: the ``eco2`` package and its dependencies are not
importable inside the isolated build environment.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
CODEGEN = ROOT / "src/eco2/infrastructure/integrations/character_grpc/codegen.py"


def load_codegen() -> ModuleType:
    """Import ``codegen.py`` without importing the ``eco2`` package."""
    spec = importlib.util.spec_from_file_location("_eco2_character_codegen", CODEGEN)
    if spec is None or spec.loader is None:
        raise RuntimeError(f"cannot load {CODEGEN}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class BuildPyWithGrpc(build_py):
    """``build_py`` that also compiles ``proto/eco2/character/v1/character.proto``."""

    def run(self) -> None:
        """Generate the modules (into ``src/`` when editable, else the build dir), then build."""
        codegen = load_codegen()
        proto = ROOT / codegen.PROTO_FILE
        if not proto.is_file():
            # An sdist made without proto/ (add `graft proto` to MANIFEST.in to ship it).
            raise FileNotFoundError(f"{proto} is missing: the gRPC modules cannot be generated")
        if getattr(self, "editable_mode", False):
            codegen.generate(proto, ROOT / "src")
            super().run()
            return
        super().run()
        codegen.generate(proto, Path(self.build_lib))


setup(cmdclass={"build_py": BuildPyWithGrpc})
