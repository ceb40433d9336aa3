"""`yt8m configs`: the shipped configs (list them, copy one out to edit)."""

from __future__ import annotations

from pathlib import Path

import typer

from .app import app, fail

configs_app = typer.Typer(help="The configs shipped with yt8m: list them, copy one out to edit.", invoke_without_command=True)
app.add_typer(configs_app, name="configs")


@configs_app.callback()
def configs(ctx: typer.Context) -> None:
    """List the shipped configs (pass a name where a config path is expected, e.g. `yt8m train frame_dbof`)."""
    if ctx.invoked_subcommand is not None:
        return
    import yaml

    from ..shipped_configs import list_configs, shipped_config

    for name in list_configs():
        text = shipped_config(name).read_text()
        model = (yaml.safe_load(text) or {}).get("model", {})
        first = next((line.lstrip("# ").strip() for line in text.splitlines() if line.startswith("#")), "")
        label = model.get("name", "microbe") if isinstance(model, dict) else "microbe"
        typer.echo(f"{name:<28} {label:<16} {first[:90]}")


@configs_app.command("copy")
def copy(
    name: str = typer.Argument(..., help="a shipped config (see `yt8m configs`)"),
    dest: Path = typer.Argument(Path("."), help="file or folder to write it to (default: NAME.yaml here)"),
    force: bool = typer.Option(False, "--force", "-f", help="overwrite an existing file"),
) -> None:
    """Write a shipped config out to edit."""
    from ..shipped_configs import copy_config

    try:
        path = copy_config(name, dest, overwrite=force)
    except (FileNotFoundError, FileExistsError) as exc:
        fail(str(exc))
    typer.echo(f"wrote {path}")
