"""Claims of seed 000 §4 and issue 14: the sparse-input LSTM with a hierarchical softmax.

1. heads: training step time (forward, backward) and peak memory of the hierarchical softmax vs the
   full softmax vs adaptive softmax at 10k / 50k / 150k labels (anchor: adaptive softmax's 4.3×
   forward / 3.8× backward at 44k classes; goal ≥ 4×);
2. top-k: beam search down the tree vs scoring every leaf (time and agreement);
3. hit@1: the LSTM (hierarchical and full softmax) vs MaxCal and MiCRObE (1 and 5 mixtures, video
   level) on the same sparse IM+TM features, 3 seeds, and the late fusion of LSTM and MiCRObE;
4. milliseconds per 4-minute video at inference on one core (paper: ≤ 1.4 s).

Parts run as separate processes and leave JSON in benchmarks/.cache/sparse_lstm/; the last step
writes benchmarks/results/sparse_lstm.md. Run: `nice -n 10 .venv/bin/python benchmarks/bench_sparse_lstm.py`
(or one part: `... bench_sparse_lstm.py heads|topk|hit|speed|report`).
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import CACHE, interval_verdict, markdown_table, mean_se, within_verdict, write_section  # noqa: E402

OUT = CACHE / "sparse_lstm"
SIZES = (10_000, 50_000, 150_000)
HEADS = ("hsm", "hsm_frequency", "adaptive", "softmax")
HIDDEN = 512
POSITIONS = 240  # 8 videos × one 30-step chunk
LABELS_PER_POSITION = 3
REPEATS = 3
SEEDS = (0, 1, 2)
COMMAND = "nice -n 10 .venv/bin/python benchmarks/bench_sparse_lstm.py"
# hit@1 world: the MiCRObE benchmarks' kind of world, smaller (this machine: 2 shared cores)
SYNTH = dict(num_classes=200, train_videos=1200, validate_videos=800, test_videos=0, rated_test_videos=0,
             segment_validate_videos=0, segment_test_videos=0, train_shards=4, validate_shards=2,
             min_frames=40, max_frames=90, levels=("frame",), sparse_features=("im", "tm"))
DATA = CACHE / "sparse-lstm-small200-seed0"
LSTM = dict(embedding_size=64, hidden_size=64, num_layers=2, unroll=30)  # reduced from 512 / 5 layers for CPU time
EPOCHS, BATCH, LR = 3, 32, 3e-3


def save(name: str, value) -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    tmp = OUT / f".{name}.json.tmp"
    tmp.write_text(json.dumps(value, indent=2, default=float))
    tmp.replace(OUT / f"{name}.json")


def load(name: str):
    path = OUT / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() else None


# ----------------------------------------------------------------------------------------------
# 1. heads: one subprocess per (head, C) so that peak memory is that configuration's own


def make_head(kind: str, num_classes: int):
    from yt8m.models.layers.label_heads import make_label_head

    if kind == "hsm_frequency":
        return make_label_head("hsm", HIDDEN, num_classes, tree="frequency")
    return make_label_head(kind, HIDDEN, num_classes)


def one_head(kind: str, num_classes: int) -> dict:
    import torch

    torch.set_num_threads(1)
    torch.manual_seed(0)
    head = make_head(kind, num_classes)
    rng = np.random.default_rng(0)
    rows = torch.arange(POSITIONS).repeat_interleave(LABELS_PER_POSITION)
    video_labels = np.minimum(rng.zipf(1.3, size=(POSITIONS // 30, LABELS_PER_POSITION)) - 1, num_classes - 1)  # Zipf: frequent labels, like real ones
    targets = torch.from_numpy(np.repeat(video_labels, 30, axis=0).reshape(-1))  # the 30 frames of a video share its labels
    weights = torch.full((len(rows),), 1.0 / LABELS_PER_POSITION)
    x = torch.randn(POSITIONS, HIDDEN, requires_grad=True)
    base_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    forward, backward = [], []
    for rep in range(REPEATS + 1):
        head.zero_grad(set_to_none=True)
        start = time.perf_counter()
        loss = head.position_loss(x, rows, targets, weights).sum()
        middle = time.perf_counter()
        loss.backward()
        end = time.perf_counter()
        if rep:  # the first is a warm-up
            forward.append(middle - start)
            backward.append(end - middle)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    params = sum(p.numel() for p in head.parameters())
    return {"head": kind, "classes": num_classes, "forward": forward, "backward": backward, "step_mb": peak - base_rss, "params": params}


def heads() -> None:
    results = []
    for num_classes in SIZES:
        for kind in HEADS:
            done = subprocess.run([sys.executable, __file__, "_head", kind, str(num_classes)], capture_output=True, text=True, check=True,
                                  env={**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"})
            results.append(json.loads(done.stdout.strip().splitlines()[-1]))
            r = results[-1]
            print(f"{kind:14s} C={num_classes:>7,}  fwd {np.mean(r['forward']) * 1000:8.1f} ms  bwd {np.mean(r['backward']) * 1000:8.1f} ms  "
                  f"+{r['step_mb']:.0f} MB", flush=True)
    save("heads", results)


# ----------------------------------------------------------------------------------------------
# 2. top-k: beam search vs every leaf


def topk() -> None:
    import torch

    from yt8m.models.layers.label_heads import HsmHead

    torch.set_num_threads(1)
    results = []
    for num_classes in SIZES:
        torch.manual_seed(0)
        head = HsmHead(HIDDEN, num_classes)
        with torch.no_grad():  # peaked node distributions, as after training (random weights would give near-uniform ones)
            head.weight.normal_(0.0, 3.0 / HIDDEN**0.5)
        x = torch.randn(POSITIONS, HIDDEN)
        beam_s, leaf_s = [], []
        for rep in range(REPEATS + 1):
            start = time.perf_counter()
            classes, _ = head.top_k(x, 20)
            middle = time.perf_counter()
            exact = head.log_prob_all(x).topk(20).indices
            end = time.perf_counter()
            if rep:
                beam_s.append(middle - start)
                leaf_s.append(end - middle)
        found = np.mean([len(set(a) & set(b)) / 20 for a, b in zip(classes.tolist(), exact.tolist())])
        top1 = float((classes[:, 0] == exact[:, 0]).float().mean())
        results.append({"classes": num_classes, "beam": beam_s, "every_leaf": leaf_s, "recall_at_20": float(found), "top1_agreement": top1})
        print(f"C={num_classes:>7,} beam {np.mean(beam_s) * 1000:.0f} ms  every leaf {np.mean(leaf_s) * 1000:.0f} ms  recall@20 {found:.3f}", flush=True)
    save("topk", results)


# ----------------------------------------------------------------------------------------------
# 3. hit@1: LSTM vs MaxCal / MiCRObE on the same features, fused


def dataset() -> Path:
    from yt8m.synth import generate

    generate(DATA, preset="small", seed=0, workers=1, progress=False, **SYNTH)
    return DATA


def lstm_config(output: str, seed: int):
    from yt8m.synth.sparse import vocabulary_sizes
    from yt8m.train.config import load_config

    v = vocabulary_sizes(SYNTH["num_classes"])
    sets = [f"model.{k}={val}" for k, val in LSTM.items()] + [
        f"model.output={output}", f"data.num_classes={SYNTH['num_classes']}", f"data.sparse_sizes=[{v['im']},{v['tm']}]",
        f"optimizer.batch_size={BATCH}", f"optimizer.lr={LR}", f"train.epochs={EPOCHS}", f"train.seed={seed}",
        "train.log_every=20", "train.checkpoint_every=100000", "data.shuffle_buffer=256",
    ]
    return load_config(Path(__file__).resolve().parents[1] / "configs" / "sparse_lstm.yaml", sets)


def microbe_config(seed: int):
    from yt8m.microbe import MicrobeConfig

    return MicrobeConfig(
        train=[str(DATA / "frame" / "train*.tfrecord")], seed=seed,
        features={"synthetic": str(DATA), "sources": ["im", "tm"], "level": "video", "window": 2},
        calibration={"lambdas": [0.1, 1.0, 10.0], "top_k": 20, "blocks": 4, "bucket_width": 1e-2},
        mining={"examples": 300, "frames_per_video": 10, "batch_size": 256},
        second_order={"model": "moe", "mixtures": 5, "restarts": 2, "label_blocks": 4},
        dask={"scheduler": "sync", "workers": 1},
    )


def hit(seed: int) -> None:
    """One seed: train both LSTMs and MiCRObE; score hit@1 on the test shard, fuse with the weight
    fitted on the held-out shard (validate shard 0: held-out, shard 1: test)."""
    import shutil

    import torch

    from yt8m.microbe import MicrobeJob, MicrobeModel
    from yt8m.predict.fusion import aligned, fit_fusion, score, video_scores
    from yt8m.predict.loaded import load_model
    from yt8m.train.trainer import train

    torch.set_num_threads(1)
    dataset()
    heldout, test = [str(DATA / "frame" / f"validate000{i}.tfrecord") for i in (0, 1)]
    result: dict = {"seed": seed, "seconds": {}}
    scores: dict = {}
    for output in ("hsm", "softmax"):
        run = OUT / "runs" / f"{output}-seed{seed}"
        shutil.rmtree(run, ignore_errors=True)
        start = time.perf_counter()
        train(lstm_config(output, seed), str(DATA / "frame" / "train*.tfrecord"), run, progress=False)
        result["seconds"][f"lstm_{output}"] = time.perf_counter() - start
        model = load_model(run, device="cpu")
        scores[f"LSTM ({output})"] = {"heldout": video_scores(model, [heldout]), "test": video_scores(model, [test])}
        model.model.config.pooling = "max"  # frame level: max over the frame scores, like Table 1
        scores[f"LSTM ({output}), frame max"] = {"test": video_scores(model, [test])}
    cfg = microbe_config(seed)
    job = MicrobeJob(cfg)
    start = time.perf_counter()
    pairs = job.calibrate()
    mined = job.mine(pairs, "hard")
    for mixtures in (1, 5):
        trained = job.train(pairs, mined, model="moe", mixtures=mixtures, negatives="hard")
        micro = MicrobeModel(cfg, trained.cascade, trained.tau, trained.report, trained.labels)
        scores[f"MiCRObE {mixtures} mix"] = {"heldout": video_scores(micro, [heldout]), "test": video_scores(micro, [test])}
        if mixtures == 1:
            scores["MaxCal"] = {"test": _maxcal_scores(micro, test)}
    result["seconds"]["microbe"] = time.perf_counter() - start
    result["hit_at_1"] = {name: score(s["test"][1], s["test"][2]) for name, s in scores.items()}
    for partner in ("MiCRObE 5 mix", "MiCRObE 1 mix"):
        h = aligned(scores["LSTM (hsm)"]["heldout"], scores[partner]["heldout"], "held-out")
        fusion = fit_fusion(h[1], h[2], h[3])
        t = aligned(scores["LSTM (hsm)"]["test"], scores[partner]["test"], "test")
        result["hit_at_1"][f"LSTM + {partner} (fused)"] = score(fusion.apply(t[1], t[2]), t[3])
        result.setdefault("fusion_weight", {})[partner] = fusion.weight
    result["test_videos"] = len(scores["LSTM (hsm)"]["test"][0])
    print(json.dumps(result), flush=True)
    save(f"hit-seed{seed}", result)


def _maxcal_scores(micro, path: str):
    ids, scores, labels = [], [], []
    for batch_ids, s, y in micro.labeled_predictions([path], stage="maxcal"):
        ids.extend(batch_ids)
        scores.append(s)
        labels.append(y)
    return ids, np.concatenate(scores), np.concatenate(labels)


# ----------------------------------------------------------------------------------------------
# 4. inference speed: one 4-minute video, the paper's full-size network, one core


def speed() -> None:
    import torch

    from yt8m.models.registry import create_model

    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    frames, per_frame, vocab = 240, 40, (17_000, 110_000)  # the paper's IM / TM vocabularies, ~1 % firing... capped at 40
    results = []
    for num_classes in SIZES:
        torch.manual_seed(0)
        model = create_model("sparse_lstm", num_classes=num_classes, feature_sizes=(), sparse_sizes=vocab).eval()
        batch = {
            "features": torch.zeros(1, frames, 0, dtype=torch.uint8), "num_frames": torch.tensor([frames]),
            "sparse_ids": torch.from_numpy(rng.integers(sum(vocab), size=frames * per_frame)),
            "sparse_scores": torch.from_numpy(rng.random(frames * per_frame).astype(np.float32)),
            "sparse_offsets": torch.arange(frames) * per_frame,
        }
        times = []
        with torch.no_grad():
            for rep in range(REPEATS + 1):
                start = time.perf_counter()
                model.forward_batch(batch)
                if rep:
                    times.append(time.perf_counter() - start)
        results.append({"classes": num_classes, "seconds": times})
        print(f"C={num_classes:>7,}: {np.mean(times) * 1000:.0f} ms per 4-minute video", flush=True)
    save("speed", results)


# ----------------------------------------------------------------------------------------------
# report


def report() -> None:
    body = []
    head_rows, verdict_rows = [], []
    heads_result = load("heads")
    if heads_result:
        by = {(r["head"], r["classes"]): r for r in heads_result}
        for num_classes in SIZES:
            soft = by[("softmax", num_classes)]
            for kind in HEADS:
                r = by[(kind, num_classes)]
                f, b = mean_se(r["forward"]), mean_se(r["backward"])
                head_rows.append([kind, f"{num_classes:,}", f"{r['params']:,}", f"{1000 * f[0]:.1f} ± {1000 * f[1]:.1f}",
                                  f"{1000 * b[0]:.1f} ± {1000 * b[1]:.1f}", f"{r['step_mb']:.0f}"])
            for kind in ("hsm", "hsm_frequency", "adaptive"):
                r = by[(kind, num_classes)]
                for phase in ("forward", "backward"):
                    ratios = np.asarray(soft[phase]) / np.asarray(r[phase])  # repeats alternate with nothing else: pair by index
                    m, se = mean_se(ratios)
                    verdict_rows.append([f"{kind} vs softmax, {phase}", f"{num_classes:,}", f"{m:.1f}× ± {2 * se:.1f}", interval_verdict(m, se, 4.0)])
        body.append(
            f"**1. Training step of the output layer alone** ({POSITIONS} positions = 8 videos × one 30-step chunk, "
            f"{LABELS_PER_POSITION} labels per video shared by its frames (Zipf-distributed ids), hidden {HIDDEN}, one thread; mean ± one standard error of "
            f"{REPEATS} repeats after a warm-up; memory: peak RSS growth of the process over the step, parameters excluded). "
            "Each configuration runs in its own process, one after another, on a heavily shared machine: the absolute "
            "times are inflated and noisy, read the ratios.\n\n"
            + markdown_table(["head", "classes", "parameters", "forward ms", "backward ms", "step MB"], head_rows) + "\n\n"
            "Speed-up over the full softmax (mean ± two standard errors of the per-repeat ratio) and the issue's goal of ≥ 4× "
            "(adaptive softmax's published 4.3× forward / 3.8× backward at 44k classes):\n\n"
            + markdown_table(["comparison", "classes", "speed-up", "≥ 4×"], verdict_rows) + "\n"
        )
    topk_result = load("topk")
    if topk_result:
        rows = []
        for r in topk_result:
            b, e = mean_se(r["beam"]), mean_se(r["every_leaf"])
            ratio = mean_se(np.asarray(r["every_leaf"]) / np.asarray(r["beam"]))
            rows.append([f"{r['classes']:,}", f"{1000 * b[0]:.0f} ± {1000 * b[1]:.0f}", f"{1000 * e[0]:.0f} ± {1000 * e[1]:.0f}",
                         f"{ratio[0]:.1f}× ± {2 * ratio[1]:.1f}", f"{r['recall_at_20']:.3f}", f"{r['top1_agreement']:.3f}"])
        body.append(
            f"**2. Top-20 labels of {POSITIONS} frames (one 4-minute video)**: beam search (beam 20) down the random tree vs "
            "scoring every leaf exactly, one thread. The weights are random with peaked node distributions (std 3/√H), "
            "not trained ones; recall@20 = share of the exact top 20 the beam finds.\n\n"
            + markdown_table(["classes", "beam ms", "every leaf ms", "beam speed-up", "recall@20", "same top-1"], rows) + "\n"
        )
    hits = [load(f"hit-seed{s}") for s in SEEDS]
    hits = [h for h in hits if h]
    if hits:
        names = list(hits[0]["hit_at_1"])
        rows = []
        for name in names:
            m, se = mean_se([h["hit_at_1"][name] for h in hits])
            rows.append([name, f"{100 * m:.1f} ± {100 * se:.1f}", " ".join(f"{100 * h['hit_at_1'][name]:.1f}" for h in hits)])
        claims = []

        def paired(a: str, b: str, threshold: float, text: str, absolute: bool = False) -> None:
            d = np.asarray([h["hit_at_1"][a] - h["hit_at_1"][b] for h in hits]) * 100
            m, se = mean_se(d)
            v = within_verdict(m, se, -threshold, threshold) if absolute else interval_verdict(m, se, threshold)
            claims.append([text, f"{m:+.1f} ± {2 * se:.1f}", v])

        paired("LSTM (hsm)", "MiCRObE 5 mix", 0.0, "LSTM above MiCRObE 5 mix (paper Table 2: +2.8 on YT-12M)")
        paired("LSTM (hsm)", "MiCRObE 1 mix", 0.0, "LSTM above MiCRObE 1 mix (paper: +2.2)")
        paired("LSTM (hsm)", "MaxCal", 0.0, "LSTM above MaxCal (paper: +23.3)")
        paired("LSTM (hsm)", "LSTM (softmax)", 0.5, "hierarchical = full softmax within ±0.5 point", absolute=True)
        best = max(("LSTM (hsm)", "MiCRObE 5 mix"), key=lambda n: np.mean([h["hit_at_1"][n] for h in hits]))
        paired("LSTM + MiCRObE 5 mix (fused)", best, 0.0, f"fused above the better single model ({best})")
        secs = {k: np.mean([h["seconds"][k] for h in hits]) for k in hits[0]["seconds"]}
        body.append(
            f"**3. Hit@1 on the same sparse IM+TM features** (synthetic `small`-kind world: {SYNTH['num_classes']} classes, "
            f"{SYNTH['train_videos']} train videos of {SYNTH['min_frames']}–{SYNTH['max_frames']} frames; validate shard 0 "
            f"({SYNTH['validate_videos'] // 2} videos) fits the fusion weight, shard 1 ({hits[0]['test_videos']} videos) is the test set; "
            f"noisy observed labels as ground truth). {len(hits)} seeds (training seed of every model; same data): mean ± one "
            f"standard error, then each seed. Reduced sizes for this 2-core machine: LSTM {LSTM['num_layers']} × "
            f"{LSTM['hidden_size']} (paper 5 × 512), embedding {LSTM['embedding_size']}, {EPOCHS} epochs of Adam at {LR}, batch "
            f"{BATCH}; MiCRObE video level (mean, top-1..5 per feature), M = 300, K = 20, buckets 0.01. Video scores: the LSTM "
            "averages its frame scores (the paper); 'frame max' takes the max over frames instead (Table 1's frame-level "
            "aggregation). Minutes per seed: " + ", ".join(f"{k} {v / 60:.1f}" for k, v in secs.items()) + ".\n\n"
            + markdown_table(["model", "hit@1 (%)", "per seed"], rows) + "\n\n"
            "Paired differences in points (mean ± two standard errors over seeds):\n\n"
            + markdown_table(["claim", "difference", "verdict"], claims) + "\n"
        )
    missing = [text for present, text in ((heads_result, "1 (heads)"), (topk_result, "2 (top-k)"), (hits, "3 (hit@1 vs MiCRObE, fusion)"),
                                          (load("speed"), "4 (inference speed)")) if not present]
    if missing:
        body.append(f"Parts not measured in this run: {', '.join(missing)}; run `{COMMAND} <part>` to add them.\n")
    speed_result = load("speed")
    if speed_result:
        rows = []
        for r in speed_result:
            m, se = mean_se(r["seconds"])
            rows.append([f"{r['classes']:,}", f"{1000 * m:.0f} ± {1000 * se:.0f}", interval_verdict(m, se, 1.4, above=False)])
        body.append(
            "**4. Inference time per 4-minute video on one core** (240 frames, 40 sparse inputs per frame from the paper's "
            "IM + TM vocabularies of 17,000 + 110,000 classes, the full 512-d embedding and 5 × 512 LSTM, top-20 labels "
            "per frame by beam search, averaged over frames; untrained weights; paper: ≤ 1.4 s).\n\n"
            + markdown_table(["classes", "ms per video", "≤ 1.4 s"], rows) + "\n"
        )
    write_section("sparse_lstm", "Sparse-input LSTM with hierarchical softmax, and fusion with MiCRObE (seed 000 §4, issue 14)",
                  COMMAND, "\n".join(body) if body else "No part has run yet.")


def main() -> None:
    args = sys.argv[1:]
    if args and args[0] == "_head":
        print(json.dumps(one_head(args[1], int(args[2]))))
        return
    parts = args or ["heads", "topk", "speed", "hit", "report"]
    for part in parts:
        if part == "hit":
            for seed in SEEDS:
                hit(seed)
        elif part.startswith("hit"):
            hit(int(part[3:]))
        else:
            {"heads": heads, "topk": topk, "speed": speed, "report": report}[part]()


if __name__ == "__main__":
    main()
