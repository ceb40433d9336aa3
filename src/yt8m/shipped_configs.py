"""The configs that ship with the package (configs/*.yaml, in the wheel as yt8m/configs/).

`yt8m configs` lists them, `yt8m configs copy NAME` writes one out to edit, and wherever a config
path is expected a bare name (`frame_dbof`) means the shipped one, so an installed package runs
`yt8m train frame_dbof ...` without a checkout. An existing file always wins over a name.
"""

from __future__ import annotations

import shutil
from importlib import resources
from pathlib import Path


def _folder():
    return resources.files("yt8m") / "configs"


def list_configs() -> list[str]:
    """Names of the shipped configs (file names without .yaml), sorted."""
    return sorted(entry.name[: -len(".yaml")] for entry in _folder().iterdir() if entry.name.endswith(".yaml"))


def shipped_config(name: str) -> Path:
    """The shipped config `name` (with or without .yaml); unknown names list the shipped ones."""
    stem = name[: -len(".yaml")] if name.endswith(".yaml") else name
    entry = _folder() / f"{stem}.yaml"
    if not entry.is_file():
        raise FileNotFoundError(f"no shipped config {name!r}; shipped configs: {', '.join(list_configs())}")
    return Path(str(entry))


def resolve_config(path_or_name: str | Path) -> Path:
    """An existing file as given, else the shipped config of that name (`frame_dbof`, `configs/frame_dbof.yaml`)."""
    path = Path(path_or_name)
    if path.exists():
        return path
    try:
        return shipped_config(path.name)
    except FileNotFoundError:
        raise FileNotFoundError(f"config file {path} does not exist and is not a shipped config (`yt8m configs` lists them)") from None


def copy_config(name: str, dest: str | Path, *, overwrite: bool = False) -> Path:
    """Write the shipped config `name` to `dest` (a file, or a folder to put NAME.yaml in)."""
    source = shipped_config(name)
    dest = Path(dest)
    if dest.is_dir():
        dest = dest / source.name
    if dest.exists() and not overwrite:
        raise FileExistsError(f"{dest} exists; pass --force to overwrite it")
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.tmp")
    shutil.copyfile(source, tmp)
    tmp.replace(dest)
    return dest
