"""Generate the character service's Python modules from its ``.proto`` with grpcio-tools.

Run at build time by ``setup.py`` (regular and editable installs) and by hand after editing the
``.proto`` (``make proto``, or ``python src/eco2/infrastructure/integrations/character_grpc/
codegen.py``). The output goes to ``character_grpc/_generated/``, which is gitignored and never
hand-edited.

This module imports nothing from ``eco2`` (``setup.py`` loads it by file path, before the package
is installed), only the standard library and, when generating, ``grpc_tools``.

The ``.proto`` is staged under the generated package's own path before ``protoc`` runs, so the
``*_pb2_grpc.py`` module imports its messages by their absolute package name
(``eco2.infrastructure.integrations.character_grpc._generated.character_pb2``) with no rewriting
of the generated text.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from importlib import resources
from pathlib import Path, PurePosixPath

PROTO_FILE = PurePosixPath("proto/eco2/character/v1/character.proto")
"""The service definition, relative to the repository root."""

PACKAGE_PATH = PurePosixPath("eco2/infrastructure/integrations/character_grpc/_generated")
"""Where the generated package lives, relative to ``src/`` (or a wheel's build directory)."""

GENERATED_MODULES = ("character_pb2.py", "character_pb2.pyi", "character_pb2_grpc.py")

_INIT = (
    '"""Generated at build time by grpc_tools.protoc from proto/eco2/character/v1/character.proto.'
    '\n\nDo not edit or commit: see eco2.infrastructure.integrations.character_grpc.codegen.\n"""\n'
)


def generate(proto_file: Path, package_root: Path) -> list[Path]:
    """Compile ``proto_file`` into ``package_root / PACKAGE_PATH``.

    Args:
        proto_file: The ``character.proto`` to compile.
        package_root: The directory holding the top-level ``eco2`` package (``src/`` for an
            editable install, the build directory for a wheel).

    Returns:
        The files written: ``__init__.py`` and the modules of ``GENERATED_MODULES``.

    Raises:
        FileNotFoundError: ``proto_file`` does not exist.
        RuntimeError: ``protoc`` failed.
    """
    if not proto_file.is_file():
        raise FileNotFoundError(f"no service definition at {proto_file}")
    from grpc_tools import protoc  # type: ignore[import-untyped]

    well_known = resources.files("grpc_tools") / "_proto"
    target = package_root / PACKAGE_PATH
    with tempfile.TemporaryDirectory(prefix="eco2-protoc-") as tmp:
        include, out = Path(tmp) / "include", Path(tmp) / "out"
        staged = include / PACKAGE_PATH / "character.proto"
        staged.parent.mkdir(parents=True)
        out.mkdir()
        shutil.copyfile(proto_file, staged)
        code = protoc.main(
            [
                "grpc_tools.protoc",
                f"-I{include}",
                f"-I{well_known}",
                f"--python_out={out}",
                f"--pyi_out={out}",
                f"--grpc_python_out={out}",
                str(staged),
            ]
        )
        if code != 0:
            raise RuntimeError(f"grpc_tools.protoc failed on {proto_file} (exit {code})")
        target.mkdir(parents=True, exist_ok=True)
        written = []
        for name in GENERATED_MODULES:
            shutil.copyfile(out / PACKAGE_PATH / name, target / name)
            written.append(target / name)
    init = target / "__init__.py"
    init.write_text(_INIT, encoding="utf-8")
    return [init, *written]


def main() -> int:
    """Regenerate the modules in this source tree (for editable installs after a proto change)."""
    root = Path(__file__).resolve().parents[5]
    for path in generate(root / PROTO_FILE, root / "src"):
        print(path.relative_to(root))
    return 0


if __name__ == "__main__":
    sys.exit(main())
