"""`yt8m convert`: TFRecords -> Arrow shards, one output shard per input file, in parallel.

Every output folder holds a manifest (MANIFEST, JSON): per input its size and mtime, its shard,
the records written, the records skipped with reasons, unread tails, and a SHA-256 of the shard.
Resume trusts a shard only when its manifest entry matches the input, the schema and the shard's
checksum; anything else is converted again. Shards are written to a temp name and renamed, and the
manifest is rewritten atomically after each shard, so an interrupted run loses nothing finished.
The summary counts what the manifest says is on disk. Output names are unique per input path:
`train/a.tfrecord` and `validate/a.tfrecord` become `train__a.arrow` and `validate__a.arrow`.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import os
import time
from dataclasses import dataclass, field

from ..progress import Progress
from .paths import expand_paths, is_url, open_binary
from .reader import ReadStats, read_file
from .records import RecordSchema
from .shards import ShardWriter

MANIFEST = ".yt8m_manifest.json"  # hidden: reading the folder as a directory of shards skips it
MANIFEST_VERSION = 1
_EXTENSIONS = (".tfrecord.gz", ".tfrecords.gz", ".tfrecord", ".tfrecords", ".gz")


@dataclass
class ConvertSummary:
    converted: int = 0  # shards written by this run
    skipped_existing: int = 0  # shards trusted from an earlier run
    records: int = 0  # records in all shards of these inputs, as on disk
    skipped_records: int = 0
    unread_tails: int = 0
    input_bytes: int = 0
    output_bytes: int = 0
    seconds: float = 0.0
    errors: list[str] = field(default_factory=list)
    outputs: list[str] = field(default_factory=list)


def _stem(part: str) -> str:
    for ext in _EXTENSIONS:
        if part.endswith(ext):
            return part[: -len(ext)]
    return part


def shard_names(paths: list[str]) -> dict[str, str]:
    """input path -> shard file name: the base name, lengthened by parent folders until unique."""
    parts = {p: [x for x in p.split("://", 1)[-1].replace("\\", "/").split("/") if x] for p in paths}
    depth = {p: 1 for p in paths}
    while True:
        names = {p: "__".join(parts[p][-depth[p] :]) for p in paths}
        names = {p: _stem(n) + ".arrow" for p, n in names.items()}
        groups: dict[str, list[str]] = {}
        for p, n in names.items():
            groups.setdefault(n, []).append(p)
        clashes = [ps for ps in groups.values() if len(ps) > 1]
        if not clashes:
            return names
        grown = False
        for group in clashes:
            for p in group:
                if depth[p] < len(parts[p]):
                    depth[p] += 1
                    grown = True
        if not grown:  # identical paths cannot happen (expand_paths de-duplicates); be safe anyway
            return {p: f"{_stem(parts[p][-1])}-{i}.arrow" for i, p in enumerate(paths)}


def _fingerprint(path: str) -> dict:
    if is_url(path):
        from .paths import _fsspec

        fs, _, (resolved,) = _fsspec().get_fs_token_paths(path)
        info = fs.info(resolved)
        mtime = info.get("mtime") or info.get("LastModified") or info.get("updated") or info.get("created")
        return {"size": int(info.get("size") or 0), "mtime_ns": str(mtime)}
    stat = os.stat(path)
    return {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns}


def file_sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open_binary(path) as f:
        for block in iter(lambda: f.read(8 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _schema_dict(schema: RecordSchema) -> dict:
    return json.loads(json.dumps(dataclasses.asdict(schema)))


def read_manifest(out_dir: str) -> dict:
    path = os.path.join(out_dir, MANIFEST)
    if not os.path.exists(path):
        return {"version": MANIFEST_VERSION, "inputs": []}
    try:
        manifest = json.loads(open(path).read())
        if manifest.get("version") == MANIFEST_VERSION and isinstance(manifest.get("inputs"), list):
            return manifest
    except (OSError, ValueError):
        pass
    return {"version": MANIFEST_VERSION, "inputs": []}  # unreadable: trust nothing, redo everything


def _write_manifest(out_dir: str, manifest: dict) -> None:
    path = os.path.join(out_dir, MANIFEST)
    tmp = f"{path}.tmp-{os.getpid()}"
    with open(tmp, "w") as f:
        json.dump(manifest, f, indent=1)
    os.replace(tmp, path)


def _trusted(entry: dict | None, fingerprint: dict, schema: dict, out_dir: str) -> bool:
    if entry is None or entry.get("schema") != schema:
        return False
    if entry.get("size") != fingerprint["size"] or entry.get("mtime_ns") != fingerprint["mtime_ns"]:
        return False
    shard = os.path.join(out_dir, entry["shard"])
    return os.path.exists(shard) and file_sha256(shard) == entry.get("sha256")


def convert_file(path: str, out_path: str, schema: RecordSchema, skip_corrupt: bool = False, compression: str | None = None) -> dict:
    """Convert one file; returns its manifest entry (without the input fingerprint)."""
    stats = ReadStats()
    with ShardWriter(out_path, schema) as writer:
        for record in read_file(path, schema, skip_corrupt=skip_corrupt, compression=compression, stats=stats):
            writer.write(record)
    return {
        "shard": os.path.basename(out_path),
        "records": stats.records,
        "skipped": [{"index": s.index, "offset": s.offset, "field": s.field, "reason": s.reason} for s in stats.skipped],
        "unread": [{"index": t.index, "offset": t.offset, "bytes": t.bytes, "field": t.field, "reason": t.reason} for t in stats.unread],
        "sha256": file_sha256(out_path),
        "messages": stats.messages()[:20],
    }


def convert(
    inputs,
    out_dir: str,
    schema: RecordSchema | None = None,
    *,
    workers: int | None = None,
    skip_corrupt: bool = False,
    compression: str | None = None,
    progress: bool = True,
    dask: str | None = None,
) -> ConvertSummary:
    """Convert every input file into a shard in `out_dir`. Schema detected from the first valid records if None.

    One task per input file (yt8m.jobs): `workers` local processes, or Dask (`dask`: "local:N" or
    a scheduler address; its workers must see `out_dir`), each task retried; the manifest is
    written here as shards arrive, so the result is the same wherever the tasks ran."""
    from ..jobs import run_per_file
    from .detect import detect_schema

    files = expand_paths(inputs)
    schema = schema or detect_schema(files)
    schema_key = _schema_dict(schema)
    os.makedirs(out_dir, exist_ok=True)
    names = shard_names(files)
    manifest = read_manifest(out_dir)
    previous = {e.get("input"): e for e in manifest["inputs"]}
    entries: dict[str, dict] = {}
    summary = ConvertSummary()
    start = time.perf_counter()
    todo = []
    for path in files:
        fingerprint = _fingerprint(path)
        out_path = os.path.join(out_dir, names[path])
        summary.outputs.append(out_path)
        old = previous.get(path)
        if old is not None and old.get("shard") == names[path] and _trusted(old, fingerprint, schema_key, out_dir):
            entries[path] = old
            summary.skipped_existing += 1
        else:
            todo.append((path, out_path, fingerprint))
            summary.input_bytes += fingerprint["size"]

    def save() -> None:
        kept = [e for e in manifest["inputs"] if e.get("input") not in files]  # other runs into this folder
        manifest["inputs"] = kept + [entries[p] for p in files if p in entries]
        _write_manifest(out_dir, manifest)

    workers = max(1, min(workers or os.cpu_count() or 1, len(todo) or 1))
    with Progress("convert", total=len(todo), unit="files", enabled=progress) as bar:
        def done(i: int, result: dict) -> None:
            path, _, fingerprint = todo[i]
            entries[path] = {"input": path, **fingerprint, "schema": schema_key, **result}
            summary.converted += 1
            save()
            bar.advance(1, records=sum(e["records"] for e in entries.values()))

        task = functools.partial(_convert_one, schema=schema, skip_corrupt=skip_corrupt, compression=compression)
        run_per_file(task, [(path, out) for path, out, _ in todo], on_done=done, dask=dask, workers=workers)
    save()
    for path in files:
        entry = entries[path]
        summary.records += entry["records"]
        summary.skipped_records += len(entry["skipped"])
        summary.unread_tails += len(entry["unread"])
        summary.errors.extend(entry.get("messages", []))
    summary.output_bytes = sum(os.path.getsize(p) for p in summary.outputs if os.path.exists(p))
    summary.seconds = time.perf_counter() - start
    return summary


def _convert_one(paths: tuple[str, str], *, schema: RecordSchema, skip_corrupt: bool, compression: str | None) -> dict:
    return convert_file(paths[0], paths[1], schema, skip_corrupt, compression)
