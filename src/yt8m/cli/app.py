"""The shared typer application; each command module adds its commands to it."""

from __future__ import annotations

import typer

app = typer.Typer(
    name="yt8m",
    help="Video classification on YouTube-8M-style features: read, convert, synthesize, train, evaluate, predict.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},  # inherited by every command and group
)


def _print_version(value: bool) -> None:
    if value:
        from .. import __version__

        typer.echo(f"yt8m {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: bool = typer.Option(False, "--version", "-V", callback=_print_version, is_eager=True, help="print the version and exit"),
) -> None:
    """Video classification on YouTube-8M-style features: read, convert, synthesize, train, evaluate, predict."""


def fail(message: str, code: int = 2) -> None:
    """Print a one-line error and exit non-zero (no traceback for expected bad input)."""
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    raise typer.Exit(code)
