"""The command line: a thin layer over the Python API. One module per command group."""

from __future__ import annotations

from .app import app
from . import data_commands  # noqa: F401,E402  (inspect, convert)
from . import train_commands  # noqa: F401,E402  (train, eval, predict)

__all__ = ["app", "main"]


def main() -> None:
    app()
