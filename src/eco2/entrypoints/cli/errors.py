"""How every ``eco2`` command reports a user's mistake or an unmet precondition: one line on
stderr, ``eco2: error: …``, and a non-zero exit (2 for bad input, 1 for a failed run)."""

from __future__ import annotations

import typer


def fail(message: str, code: int = 2) -> typer.Exit:
    """Print ``message`` to stderr and return the exit to raise (``raise fail(...) from None``).

    Args:
        message: What went wrong, in the user's terms.
        code: The exit status.
    """
    typer.echo(f"eco2: error: {message}", err=True)
    return typer.Exit(code)
