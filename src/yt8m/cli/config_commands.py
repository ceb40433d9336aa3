"""`yt8m config show`: the resolved configuration, every value typed, as the run would use it."""

from __future__ import annotations

from pathlib import Path
from typing import List

import typer

from .app import app, fail

config_app = typer.Typer(help="Inspect configurations.", no_args_is_help=True)
app.add_typer(config_app, name="config")

_MICROBE_KEYS = {"features", "calibration", "mining", "second_order", "dask", "num_classes", "output", "seed"}


@config_app.command("show")
def show(
    config: Path = typer.Argument(..., help="YAML config: a training config (configs/*.yaml) or a MiCRObE one"),
    overrides: List[str] = typer.Option([], "--set", help="key=value as for train / microbe run (repeatable)"),
) -> None:
    """Print the resolved config as YAML: file, overrides and defaults, converted and validated by type."""
    from ..shipped_configs import resolve_config
    from ..typed_config import dump_yaml, merge, parse_overrides, read_yaml

    try:
        config = resolve_config(config)
        raw = read_yaml(config)
        if set(raw) & _MICROBE_KEYS:
            from ..microbe import MicrobeConfig

            resolved = MicrobeConfig.from_dict(merge(raw, parse_overrides(overrides, example="mining.examples=500")))
        else:
            from ..train.config import load_config

            resolved = load_config(config, list(overrides))
    except (ValueError, KeyError, FileNotFoundError) as exc:
        fail(exc.args[0] if isinstance(exc, KeyError) and exc.args else str(exc))
    typer.echo(dump_yaml(resolved), nl=False)
