"""Local paths, globs and (when fsspec is installed) remote URLs such as gs:// or s3://."""

from __future__ import annotations

import glob
import os
from typing import IO, Iterable


# Object stores: few large sequential reads beat many small ones (BENCHMARKS.md, "Past one machine":
# read throughput against block size). YT8M_READ_BLOCK_MB changes it, for every loader worker too.
BLOCK_SIZE = int(float(os.environ.get("YT8M_READ_BLOCK_MB", "8")) * (1 << 20))
READ_AHEAD_BLOCKS = 2  # blocks kept per open file: the one being read and the next, fetched in the background


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


def open_binary(path: str, mode: str = "rb", *, block_size: int | None = None) -> IO[bytes]:
    """Open a local file or an fsspec URL in binary mode.

    URLs are read in `block_size` (default BLOCK_SIZE) range requests, and once a reader goes past
    the first block, the next block is fetched in a background thread while the current one is
    consumed, so every process (each loader worker opens its own files) overlaps its download with
    parsing; a reader that stays in the first block (format sniffing) costs one request."""
    if is_url(path):
        if "r" not in mode:
            return _fsspec().open(path, mode, block_size=block_size or BLOCK_SIZE).open()
        _register_read_ahead()
        return _fsspec().open(path, mode, block_size=block_size or BLOCK_SIZE, cache_type=READ_AHEAD,
                              cache_options={"maxblocks": READ_AHEAD_BLOCKS}).open()
    return open(path, mode)


READ_AHEAD = "yt8m-read-ahead"


def _register_read_ahead() -> None:
    """fsspec's background block cache, except that reads inside the first block fetch no more:
    sniffing a file's format or header costs one block, streaming through it overlaps every next one."""
    import fsspec.caching

    if READ_AHEAD in fsspec.caching.caches:
        return

    class SequentialReadAhead(fsspec.caching.BackgroundBlockCache):
        name = READ_AHEAD

        def _fetch(self, start, end):
            start = start or 0
            end = self.size if end is None or end > self.size else end
            if 0 <= start < end < self.blocksize and self._fetch_future is None:  # still in block 0: no read-ahead yet
                self._fetch_block_cached(0)
                return self._read_cache(start, end, start_block_number=0, end_block_number=0)
            return super()._fetch(start, end)

    fsspec.caching.register_cache(SequentialReadAhead)


def _fsspec():
    try:
        import fsspec
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError("remote paths need fsspec: pip install 'yt8m[remote]' and the backend (gcsfs, s3fs)") from exc
    return fsspec
