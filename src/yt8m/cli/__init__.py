"""The command line: a thin layer over the Python API. One module per command group."""

from __future__ import annotations

from .app import app
from . import data_commands  # noqa: F401,E402  (inspect, convert)
from . import train_commands  # noqa: F401,E402  (train, eval, predict)
from . import demo_commands  # noqa: F401,E402  (demo)
from . import model_commands  # noqa: F401,E402  (models)
from . import synth_commands  # noqa: F401,E402  (synth)
from . import microbe_commands  # noqa: F401,E402  (microbe run, eval, predict, recovery)
from . import config_commands  # noqa: F401,E402  (config show)
from . import configs_commands  # noqa: F401,E402  (configs, configs copy)
from . import extract_commands  # noqa: F401,E402  (extract, extract fit-pca)
from . import fusion_commands  # noqa: F401,E402  (fuse)

__all__ = ["app", "main"]


def main() -> None:
    app()
