"""Cross-validation folds by shard: whole files go to one fold, so no video is in two folds and a
fold's videos come from the same shards as the official data's (the 2019 segment data is one split)."""

from __future__ import annotations

from ..io.paths import expand_paths


def split_by_shard(paths, folds: int, fold: int) -> tuple[list[str], list[str]]:
    """(training files, held-out files): file i (in sorted order) belongs to fold i mod `folds`."""
    files = sorted(expand_paths(paths))
    if folds < 2:
        raise ValueError(f"folds must be >= 2 to hold one out, got {folds}")
    if not 0 <= fold < folds:
        raise ValueError(f"fold must be in 0..{folds - 1}, got {fold}")
    if len(files) < folds:
        raise ValueError(f"{folds} folds by shard need at least {folds} files, got {len(files)}: {', '.join(files)[:200]}")
    held_out = [f for i, f in enumerate(files) if i % folds == fold]
    return [f for f in files if f not in held_out], held_out
