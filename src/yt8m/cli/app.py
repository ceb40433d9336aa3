"""The shared typer application; each command module adds its commands to it."""

from __future__ import annotations

import typer

app = typer.Typer(
    name="yt8m",
    help="Video classification on YouTube-8M-style features: read, convert, synthesize, train, evaluate, predict.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def fail(message: str, code: int = 2) -> None:
    """Print a one-line error and exit non-zero (no traceback for expected bad input)."""
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    raise typer.Exit(code)
