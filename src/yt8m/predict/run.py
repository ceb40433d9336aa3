"""`yt8m predict` and `yt8m eval` as Python functions (the CLI only parses arguments)."""

from __future__ import annotations

import csv
import functools
import hashlib
import json
import os
import re
import time
from pathlib import Path

import numpy as np

from ..io.detect import detect_schema
from ..io.paths import expand_paths
from ..io.report import ReadStats
from ..progress import Progress
from .loaded import LoadedModel, load_model
from .totals import count_videos
from .writers import PredictionWriter


def check_data_matches(model: LoadedModel, files: list[str]) -> None:
    """Fail clearly when the data's kind or feature sizes differ from what the model was trained on."""
    data = model.data
    found = detect_schema(files, num_classes=data.num_classes)
    if found.frame_level != data.frame_level:
        raise ValueError(
            f"{files[0]} holds {found.kind}-level records but the model was trained on {data.kind}-level data"
        )
    for name, size in zip(data.feature_names, data.feature_sizes):
        if name not in found.feature_names:
            raise ValueError(f"{files[0]}: no feature {name!r} (file has {list(found.feature_names)}), the model needs {list(data.feature_names)}")
        have = found.feature_sizes[found.feature_names.index(name)]
        if have != size:
            raise ValueError(f"{files[0]}: feature {name!r} has {have} dims, the model was trained with {size}")


def find_vocabulary(files: list[str], explicit: str | None = None) -> dict[int, str]:
    """Class names from vocabulary.csv: the given path, else the first one found beside the data or up to 2 levels above."""
    from ..data.vocabulary import read_vocabulary

    path = Path(explicit) if explicit else None
    if path is None and files and "://" not in files[0]:
        start = Path(files[0]).resolve().parent
        path = next((folder / "vocabulary.csv" for folder in [start, *start.parents[:2]] if (folder / "vocabulary.csv").exists()), None)
    return dict(enumerate(read_vocabulary(path).names)) if path is not None else {}


# -- one task per file: the same work locally, over torchrun ranks and on Dask (yt8m.jobs) ----------

_MODELS: dict = {}


def _model_for(checkpoint: str, device: str) -> LoadedModel:
    """The model of this process (loaded once per process: Dask workers and ranks keep theirs);
    `auto` under torchrun takes this rank's GPU."""
    if device == "auto" and "LOCAL_RANK" in os.environ:
        import torch

        device = f"cuda:{os.environ['LOCAL_RANK']}" if torch.cuda.is_available() else "cpu"
    key = (checkpoint, device)
    if key not in _MODELS:
        _MODELS.clear()
        _MODELS[key] = load_model(checkpoint, device=device)
    return _MODELS[key]


def _remember(model: LoadedModel, device: str) -> None:
    """The model this process already loaded serves its own tasks too."""
    if "LOCAL_RANK" not in os.environ:
        _MODELS.clear()
        _MODELS[(str(model.checkpoint), device)] = model


def predict_file(path: str, *, checkpoint: str, device: str = "auto", batch_size: int = 256, top_k: int = 20, embeddings: bool = False) -> dict:
    """One file's top-k predictions (ids, classes [N, k], scores [N, k], embeddings) and read counts."""
    from .writers import top_k as top_classes

    model = _model_for(checkpoint, device)
    stats = ReadStats()
    ids, classes, scores, vectors = [], [], [], []
    for batch in model.predict_files([path], batch_size=batch_size, outputs=("embedding",) if embeddings else (), read_stats=stats):
        c, s = top_classes(batch["predictions"], top_k)
        ids += list(batch["ids"])
        classes.append(c)
        scores.append(s)
        if embeddings:
            if "embedding" not in batch:
                raise ValueError(f"model {model.config.model_name!r} has no video embedding output (--embeddings)")
            vectors.append(batch["embedding"])
    k = min(top_k, model.num_classes)
    return {
        "ids": ids, "read": stats,
        "classes": np.concatenate(classes) if classes else np.zeros((0, k), np.int64),
        "scores": np.concatenate(scores) if scores else np.zeros((0, k), np.float32),
        "embeddings": np.concatenate(vectors) if vectors else None,
    }


def evaluate_file(path: str, *, checkpoint: str, device: str = "auto", batch_size: int = 256):
    """One file's evaluation state (yt8m.evaluation.evaluate.EvaluationState): merged in file order
    they give the metrics of one pass over all files."""
    from ..evaluation.evaluate import evaluation_state

    model = _model_for(checkpoint, device)
    data_cfg = model.data.__class__(**{**model.data.__dict__, "batch_size": batch_size})
    return evaluation_state(model.model, [path], data_cfg, device=model.device)


class _InOrder:
    """Hands results arriving in any order to `consume` in file order (Dask finishes tasks out of order)."""

    def __init__(self, consume) -> None:
        self.consume, self.pending, self.next = consume, {}, 0

    def __call__(self, i: int, result) -> None:
        self.pending[i] = result
        while self.next in self.pending:
            self.consume(self.pending.pop(self.next))
            self.next += 1


def predict(checkpoint, data, out: str | Path, *, format: str | None = None, top_k: int = 20, batch_size: int = 256, vocabulary: str | None = None, device: str = "auto",
            embeddings: str | Path | None = None, progress: bool = True, dask: str | None = None) -> dict:
    """Write top-k predictions for every video of `data` to `out`; returns a small summary.

    One task per file (yt8m.jobs): in this process, over the ranks of `torchrun` (rank 0 writes
    the file) or on a Dask cluster (`dask`: "local:N" or a scheduler address); the output is the
    same in every case. `embeddings`: also write each video's representation (models with an
    "embedding" output, e.g. sparse_lstm's 512-d state at the last frame) to this .npz (arrays
    `ids`, `embeddings`)."""
    from ..jobs import run_per_file, torchrun_world

    files = expand_paths(data)
    model = load_model(checkpoint, device=device)
    if not isinstance(model, LoadedModel):  # MiCRObE and other non-neural predictors
        return model.predict_to_file(files, out, format=format, top_k=top_k)
    check_data_matches(model, files)
    _remember(model, device)
    rank = 0 if dask else torchrun_world()[0]
    task = functools.partial(predict_file, checkpoint=str(model.checkpoint), device=device, batch_size=batch_size, top_k=top_k, embeddings=bool(embeddings))
    if rank != 0:
        run_per_file(task, files, on_done=None)
        return {"videos": 0, "out": None, "rank": rank}
    names = find_vocabulary(files, vocabulary)
    start = time.perf_counter()
    vectors: list = []
    read_stats = ReadStats()
    with PredictionWriter(out, format=format, top_k=top_k, class_names=names) as writer, \
            Progress("predict", total=count_videos(files) if progress else None, unit="videos", enabled=progress) as bar:
        def write(part: dict) -> None:
            writer.write_top_k(part["ids"], part["classes"], part["scores"])
            read_stats.merge(part["read"])
            if embeddings:
                vectors.append((part["ids"], part["embeddings"]))
            bar.advance(len(part["ids"]))

        run_per_file(task, files, dask=dask, on_done=_InOrder(write))
    if embeddings:
        tmp = Path(embeddings).with_name(f".{Path(embeddings).name}.tmp-{os.getpid()}.npz")
        np.savez(tmp, ids=np.asarray([i for ids, _ in vectors for i in ids]), embeddings=np.concatenate([e for _, e in vectors if e is not None]))
        os.replace(tmp, embeddings)
    seconds = time.perf_counter() - start
    return {"videos": writer.count, "out": str(out), "seconds": seconds, "ms_per_video": 1000 * seconds / max(writer.count, 1), "read": read_stats.as_dict(), "read_summary": read_stats.summary_line()}


def eval_folder_name(data) -> str:
    """A folder name for a data set from its path or glob: "data/small/video/rated_test*" -> "rated_test"."""
    patterns = [data] if isinstance(data, (str, Path)) else list(data)
    names = []
    for pattern in patterns:
        base = Path(str(pattern).rstrip("/")).name.split(".")[0]
        names.append(re.sub(r"[^A-Za-z0-9_-]+", "_", base).strip("_-") or "data")
    return "+".join(dict.fromkeys(names))


def eval_out_dir(checkpoint, data, files: list[str], *, segments: bool = False) -> Path:
    """RUN/eval/<data set>/ (see eval_folder_name; "-segments" for segment scoring). When that folder
    already holds another data set's metrics, a short hash of this file list is appended, so no data
    set's metrics overwrite another's."""
    folder = Path(checkpoint) / "eval" / (eval_folder_name(data) + ("-segments" if segments else ""))
    previous = folder / "metrics.json"
    if previous.exists():
        try:
            same = json.loads(previous.read_text()).get("data") == _data_list(files)
        except (OSError, ValueError):
            same = False
        if not same:
            digest = hashlib.sha1("\n".join(os.path.abspath(f) for f in files).encode()).hexdigest()[:8]
            folder = folder.with_name(f"{folder.name}-{digest}")
    return folder


def _data_list(files: list[str]) -> list[str]:
    return files if len(files) <= 20 else files[:20] + [f"... {len(files)} files"]


def evaluate(checkpoint, data, out_dir: str | Path | None = None, *, batch_size: int = 256, vocabulary: str | None = None, device: str = "auto", segments: bool = False,
             segment_label_ids: str | None = None, progress: bool = True, dask: str | None = None) -> dict:
    """Score a checkpoint on labeled data: metrics.json and per_class_ap.csv in `out_dir`.

    Video-level scoring is one task per file, merged in file order (yt8m.jobs: locally, over
    torchrun ranks, where rank 0 writes, or on Dask): the metrics are those of one pass.

    `segments=True` reads segment-rated data: GAP & co. over the rated (segment, class) pairs, and
    the Kaggle-2019 MAP@100K of the segment ranking `predict --segments` would submit
    (segment_predictions.csv beside the metrics when `out_dir` is given).
    """
    from ..evaluation.evaluate import evaluate_model

    files = expand_paths(data)
    model = load_model(checkpoint, device=device)
    if not isinstance(model, LoadedModel):
        if segments:
            raise ValueError(f"{checkpoint} is a MiCRObE model: it scores whole videos, not 5-second segments (--segments needs a model trained with `yt8m train`)")
        metrics = model.evaluate(files)
    elif segments:  # MAP@100K ranks segments over all files at once: one process
        check_data_matches(model, files)
        data_cfg = model.data.__class__(**{**model.data.__dict__, "batch_size": batch_size, "segment_labels": True, "kind": "segment"})
        metrics = evaluate_model(model.model, files, data_cfg, device=model.device, progress=progress)
        metrics.update(segment_map(model, files, out_dir, segment_label_ids=segment_label_ids, progress=progress))
    else:
        from ..jobs import run_per_file, torchrun_world

        check_data_matches(model, files)
        _remember(model, device)
        task = functools.partial(evaluate_file, checkpoint=str(model.checkpoint), device=device, batch_size=batch_size)
        if not dask and torchrun_world()[0] != 0:
            run_per_file(task, files, on_done=None)
            return {"rank": torchrun_world()[0]}
        states: list = []
        with Progress("eval", total=count_videos(files) if progress else None, unit="videos", enabled=progress) as bar:
            def add(state) -> None:
                states.append(state) if not states else states[0].merge(state)
                bar.advance(state.evaluator.num_videos)

            run_per_file(task, files, dask=dask, on_done=_InOrder(add))
        metrics = states[0].metrics()
    metrics["checkpoint"] = str(getattr(model, "checkpoint", checkpoint))
    metrics["data"] = _data_list(files)
    if out_dir is not None:
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        per_class = metrics.get("per_class_ap")
        names = find_vocabulary(files, vocabulary)
        if per_class is not None:
            tmp = out_dir / f".per_class_ap.csv.tmp-{os.getpid()}"
            with open(tmp, "w", newline="") as f:
                writer = csv.writer(f)
                writer.writerow(["class", "name", "ap", "positives"])
                positives = metrics.get("positives_per_class") or [None] * len(per_class)
                for c, ap in enumerate(per_class):
                    if ap is not None and not (isinstance(ap, float) and np.isnan(ap)):
                        writer.writerow([c, names.get(c, ""), f"{ap:.6f}", positives[c]])
            os.replace(tmp, out_dir / "per_class_ap.csv")
        segment_aps = metrics.get("segment_per_class_ap")
        if segment_aps is not None:  # the AP of each rated class inside MAP@100K
            tmp = out_dir / f".segment_per_class_ap.csv.tmp-{os.getpid()}"
            with open(tmp, "w", newline="") as f:
                writer = csv.writer(f)
                writer.writerow(["class", "name", "ap"])
                for c, ap in sorted(segment_aps.items()):
                    writer.writerow([c, names.get(c, ""), f"{ap:.6f}"])
            os.replace(tmp, out_dir / "segment_per_class_ap.csv")
        summary = {k: v for k, v in metrics.items() if k not in ("per_class_ap", "positives_per_class", "segment_per_class_ap")}
        tmp = out_dir / f".metrics.json.tmp-{os.getpid()}"
        tmp.write_text(json.dumps(summary, indent=2))
        os.replace(tmp, out_dir / "metrics.json")
    return metrics


def segment_map(model: LoadedModel, files: list[str], out_dir=None, *, segment_label_ids: str | None = None, progress: bool = True) -> dict:
    """MAP@100K (evaluation.segments) of the model's segment ranking against the data's ratings.

    Rated classes come from segment_label_ids.csv (given or found beside the data), else from the
    classes the data rates. The ranking is the one `predict_segments` writes for a submission.
    """
    import tempfile

    from ..evaluation.segments import MAX_PREDICTIONS, segment_average_precisions, segment_ratings
    from ..io.reader import read_records
    from .segments import SegmentOptions, predict_segments

    ratings = segment_ratings(read_records(files, model.data.schema.replace(kind="segment")))
    try:
        whitelist = find_segment_label_ids(files, segment_label_ids, model.num_classes)
    except FileNotFoundError:
        whitelist = np.unique([label for _, label in ratings])
    with tempfile.TemporaryDirectory() as tmp:
        submission = Path(out_dir) / "segment_predictions.csv" if out_dir is not None else Path(tmp) / "segments.csv"
        predict_segments(model, files, submission, whitelist, options=SegmentOptions(max_per_class=MAX_PREDICTIONS), progress=progress)
        aps = segment_average_precisions(submission, ratings, MAX_PREDICTIONS)
    if not aps:
        raise ValueError("no rated class has a positively rated segment in this data: MAP@100K is undefined")
    return {"segment_map_at_100k": float(np.mean(list(aps.values()))), "segment_map_classes": len(aps), "segment_per_class_ap": aps}


def find_segment_label_ids(files: list[str], explicit: str | None, num_classes: int) -> np.ndarray:
    """The rated classes: the given segment_label_ids.csv, else one beside the data or up to 2 levels above."""
    from ..data.vocabulary import read_segment_label_ids

    path = Path(explicit) if explicit else None
    if path is None and files and "://" not in files[0]:
        start = Path(files[0]).resolve().parent
        path = next((d / "segment_label_ids.csv" for d in [start, *start.parents[:2]] if (d / "segment_label_ids.csv").exists()), None)
    if path is None:
        raise FileNotFoundError("segment prediction needs segment_label_ids.csv: pass --segment-label-ids (it is never downloaded)")
    return read_segment_label_ids(path, num_classes=num_classes)


def predict_segment_file(checkpoint, data, out: str | Path, *, segment_label_ids: str | None = None, options=None, device: str = "auto", progress: bool = True) -> dict:
    """The 2019 Kaggle segment submission (`Class,Segments`) for every video of `data`."""
    from .segments import predict_segments

    files = expand_paths(data)
    model = load_model(checkpoint, device=device)
    if not isinstance(model, LoadedModel):
        raise ValueError(f"{checkpoint} is a MiCRObE model: it scores whole videos, not 5-second segments (--segments needs a model trained with `yt8m train`)")
    check_data_matches(model, files)
    whitelist = find_segment_label_ids(files, segment_label_ids, model.num_classes)
    start = time.perf_counter()
    summary = predict_segments(model, files, out, whitelist, options=options, progress=progress)
    summary["seconds"] = time.perf_counter() - start
    return summary
