"""Ensembles of segment runs: score averaging with weights fitted on held-out rated segments.

Each run scores the held-out segments once (its own windows: context, whole video); the weights are
the point of the simplex grid (step `step`, corners included, so the ensemble is never worse on the
held-out data than its best member) with the best MAP@100K of the weighted mean of the scores. The
submission then averages the runs' scores of every test segment with those weights (streaming, as
`predict --segments`). Context-aware + context-agnostic mixtures are the 2019 winners' use of it.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import os
from pathlib import Path

import numpy as np

from ..evaluation.evaluate import rated_segment_predictions
from ..evaluation.segments import rated_segment_map
from ..io.paths import expand_paths
from .loaded import LoadedModel, load_model


def heldout_scores(model: LoadedModel, files: list[str]) -> dict:
    """The run's scores of every rated held-out (segment, class) pair (evaluate.rated_segment_predictions)."""
    return rated_segment_predictions(model.model, files, dataclasses.replace(model.data, batch_size=256), device=model.device)


def simplex(members: int, step: float) -> list[tuple[float, ...]]:
    """Weight vectors on the simplex grid: non-negative multiples of `step` summing to 1."""
    n = round(1 / step)
    return [tuple(c / n for c in combo) for combo in itertools.product(range(n + 1), repeat=members) if sum(combo) == n]


def fit_weights(scores: list[dict], step: float = 0.1) -> tuple[tuple[float, ...], dict]:
    """The simplex-grid weights with the best held-out MAP@100K, and every member's own MAP."""
    for other in scores[1:]:
        if other["ids"] != scores[0]["ids"] or not np.array_equal(other["classes"], scores[0]["classes"]):
            raise ValueError("the runs scored different held-out segments: they must read the same files")
    base = {k: scores[0][k] for k in ("ids", "classes", "labels")}

    def score(weights) -> float:
        return rated_segment_map({**base, "scores": sum(w * s["scores"] for w, s in zip(weights, scores))})["segment_map"]

    grid = simplex(len(scores), step)
    results = [score(w) for w in grid]
    best = int(np.argmax(results))
    members = [score(tuple(float(i == j) for j in range(len(scores)))) for i in range(len(scores))]
    return grid[best], {"ensemble": results[best], "members": members}


def ensemble_segment_file(runs, heldout, data, out, *, segment_label_ids: str | None = None, options=None, step: float = 0.1, device: str = "auto", progress: bool = True) -> dict:
    """Fit the weights of `runs` on `heldout` (segment-rated files), then write the weighted-mean submission
    for `data` to `out` and the weights with the held-out MAPs to `<out>.ensemble.json`."""
    from .run import find_segment_label_ids
    from .segments import predict_segments

    models = [load_model(run, device=device) for run in runs]
    if len(models) < 2 or not all(isinstance(m, LoadedModel) for m in models):
        raise ValueError("a segment ensemble needs two or more runs trained with `yt8m train`")
    heldout_files, files = expand_paths(heldout), expand_paths(data)
    weights, maps = fit_weights([heldout_scores(m, heldout_files) for m in models], step)
    summary = predict_segments(list(zip(models, weights)), files, out, find_segment_label_ids(files, segment_label_ids, models[0].num_classes), options=options, progress=progress)
    report = {"runs": [str(r) for r in runs], "weights": list(weights), "heldout_map": maps, "heldout": heldout_files, **summary}
    tmp = Path(f"{out}.ensemble.json.tmp-{os.getpid()}")
    tmp.write_text(json.dumps(report, indent=2))
    os.replace(tmp, f"{out}.ensemble.json")
    return report
