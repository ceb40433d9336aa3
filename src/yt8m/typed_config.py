"""The one configuration layer for every command: YAML files plus `--set key=value`, typed by dataclasses.

Config classes stay plain dataclasses (train, data, model, MiCRObE, synthetic generator); pydantic
converts and validates values by the field types, so `lr: 1e-3` in YAML and `--set optimizer.lr=1e-4`
both become floats, `--set data.feature_names=[rgb]` a tuple. Every error is one line naming the key,
the expected type and the value given.
"""

from __future__ import annotations

import dataclasses
import json
import re
import typing
from pathlib import Path
from typing import Any

import yaml
from pydantic import TypeAdapter, ValidationError


class _Yaml12Loader(yaml.SafeLoader):
    """PyYAML follows YAML 1.1, where `1e-3` is a string; YAML 1.2 (and every user) reads a number."""


_Yaml12Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"),
)


def parse_yaml(text: str) -> Any:
    return yaml.load(text, Loader=_Yaml12Loader)


def read_yaml(path: str | Path) -> dict[str, Any]:
    """A YAML file holding a mapping (empty file: {})."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"config file {path} does not exist")
    try:
        data = parse_yaml(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ValueError(f"{path}: not valid YAML ({str(exc).splitlines()[0]})") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path}: a config is a mapping of keys, got {type(data).__name__}")
    return data


def parse_overrides(items: list[str], *, example: str = "optimizer.lr=0.001") -> dict[str, Any]:
    """`a.b=value` strings -> a nested dict; values are YAML (0.1, 1e-4, true, [a, b], null)."""
    out: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key or any(not part for part in key.split(".")):
            raise ValueError(f"--set {item!r} must look like key=value (e.g. {example})")
        *parents, name = key.split(".")
        target = out
        for part in parents:
            target = target.setdefault(part, {})
            if not isinstance(target, dict):
                raise ValueError(f"--set {item!r}: {part!r} is set to a value and a section at once")
        target[name] = parse_yaml(value) if value.strip() else ""
    return out


def merge(base: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    """A deep copy of `base` with `changes` applied (nested dicts merge, other values replace)."""
    out = json.loads(json.dumps(base or {}, default=list))
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = value
    return out


def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _is_dataclass_type(tp: Any) -> bool:
    return isinstance(tp, type) and dataclasses.is_dataclass(tp)


def _sequence_type(tp: Any) -> bool:
    origin = typing.get_origin(tp)
    if origin in (tuple, list):
        return True
    return origin is typing.Union and any(_sequence_type(a) for a in typing.get_args(tp))


def _prepare(cls: type, data: Any, where: str) -> Any:
    """Reject unknown keys (listing the valid ones) and split `a,b` strings for sequence fields."""
    if not isinstance(data, dict):
        raise ValueError(f"{where}: expected a mapping of options, got {data!r}")
    hints = _hints(cls)
    names = [f.name for f in dataclasses.fields(cls) if f.init]
    unknown = sorted(set(data) - set(names))
    if unknown:
        raise ValueError(f"{where} has no option(s) {', '.join(map(repr, unknown))}; valid options: {', '.join(sorted(names))}")
    out = {}
    for key, value in data.items():
        tp = hints[key]
        nested = [t for t in (tp, *typing.get_args(tp)) if _is_dataclass_type(t)]  # X or X | None
        if nested and isinstance(value, dict):
            value = _prepare(nested[0], value, f"{where}: {key}")
        elif _sequence_type(tp) and isinstance(value, str):
            value = [part.strip() for part in value.split(",") if part.strip()]
        out[key] = value
    return out


def build(cls: type, data: dict[str, Any] | None, *, what: str = "config", prefix: str = "") -> Any:
    """A `cls` dataclass from a dict, every value converted to its field's type or a one-line error
    (keys are named with `prefix`, e.g. "optimizer." for the optimizer section)."""
    prepared = _prepare(cls, dict(data or {}), what)
    try:
        return TypeAdapter(cls).validate_python(prepared)
    except ValidationError as exc:
        first = exc.errors()[0]
        key = prefix + ".".join(str(part) for part in first["loc"])
        if first["type"] == "value_error":  # raised by the dataclass itself (__post_init__ checks)
            raise ValueError(f"{what}: {first['ctx']['error']}") from None
        raise ValueError(f"{what}: key {key!r} expects {_expected(cls, first['loc'])}, got {first.get('input')!r} ({first['msg']})") from None


def _expected(cls: type, loc: tuple) -> str:
    """The declared type at a (nested) key, as written in the dataclass."""
    tp: Any = cls
    for part in loc:
        owner = next((t for t in (tp, *typing.get_args(tp)) if _is_dataclass_type(t)), None)
        if owner is None or str(part) not in _hints(owner):
            break
        tp = _hints(owner)[str(part)]
    return getattr(tp, "__name__", None) if isinstance(tp, type) else str(tp).replace("typing.", "")


def to_plain(value: Any) -> Any:
    """Dataclasses -> dicts, tuples -> lists: what JSON and YAML write."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {k: to_plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_plain(v) for v in value]
    return value


def dump_yaml(value: Any) -> str:
    return yaml.safe_dump(to_plain(value), sort_keys=False, default_flow_style=None)
