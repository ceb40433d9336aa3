"""Local paths, globs and (when fsspec is installed) remote URLs such as gs:// or s3://."""

from __future__ import annotations

import glob
import os
from typing import IO, Iterable


BLOCK_SIZE = 8 << 20  # object stores: few large reads beat many small ones


def is_url(path: str) -> bool:
    return "://" in path and not path.startswith("file://")


def expand_paths(patterns: str | os.PathLike | Iterable[str | os.PathLike]) -> list[str]:
    """Expand globs (local or remote) into a sorted, de-duplicated list of files.

    Raises FileNotFoundError naming the pattern when nothing matches, so an empty glob never
    silently trains or evaluates on nothing.
    """
    if isinstance(patterns, (str, os.PathLike)):
        patterns = [patterns]
    found: list[str] = []
    for pattern in patterns:
        pattern = os.fspath(pattern)
        for part in pattern.split(",") if "," in pattern and not os.path.exists(pattern) else [pattern]:
            part = part.strip()
            if not part:
                continue
            if is_url(part):
                fs, _, _ = _fsspec().get_fs_token_paths(part)
                protocol = part.split("://", 1)[0]
                matches = sorted(fs.glob(part)) if glob.has_magic(part) else ([part] if fs.exists(part) else [])
                matches = [m if "://" in m else f"{protocol}://{m}" for m in matches]
            elif os.path.isdir(part):
                matches = sorted(
                    os.path.join(part, name)
                    for name in os.listdir(part)
                    if not name.startswith(".") and os.path.isfile(os.path.join(part, name))
                )
            else:
                matches = sorted(glob.glob(part)) if glob.has_magic(part) else ([part] if os.path.exists(part) else [])
            if not matches:
                raise FileNotFoundError(f"no files match {part!r}")
            found.extend(matches)
    seen: set[str] = set()
    return [p for p in found if not (p in seen or seen.add(p))]


def open_binary(path: str, mode: str = "rb") -> IO[bytes]:
    """Open a local file or an fsspec URL in binary mode (URLs read in BLOCK_SIZE blocks)."""
    if is_url(path):
        return _fsspec().open(path, mode, block_size=BLOCK_SIZE).open()
    return open(path, mode)


def _fsspec():
    try:
        import fsspec
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError("remote paths need fsspec: pip install 'yt8m[remote]' and the backend (gcsfs, s3fs)") from exc
    return fsspec
