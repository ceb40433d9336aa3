"""Does issue 9's damage checking slow the clean read path? This code against an earlier tree, one run.

The same clean files (written once by this code) are read by two source trees in alternating
subprocesses pinned to one core: the current `src/` and a baseline tree given by --baseline
(e.g. `git archive <commit> src | tar -x -C /tmp/yt8m-base`). Each round measures every case in
both trees (best of 3 passes over a warm page cache, timed in CPU seconds of the reading process, so
other jobs on a shared machine do not count); the ratio current/baseline per case is the
mean over rounds with two standard errors, and the verdict on "no more than 5 % slower" is
computed from that interval. Shards also run with `verify_crc=False` (row checksums off, the
structural checks still on) to separate the cost of the checksums from the rest.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from benchmarks.common import interval_verdict, markdown_table, publish  # noqa: E402
MAX_FRAMES = 300
LIMIT = 0.95  # current must read at >= 95 % of the baseline's rate
CASES = [
    ("frame TFRecord, decode+pad uint8", "frame.tfrecord", "frame", {}),
    ("frame shard, decode+dequantize+pad", "frame.arrow", "frame", {"dequantized": True}),
    ("frame shard, decode+dequantize+pad, verify_crc=False", "frame.arrow", "frame", {"dequantized": True, "verify_crc": False}),
    ("frame GZIP TFRecord, decode+pad uint8", "frame.tfrecord.gz", "frame", {}),
    ("frame shard, decode+pad uint8", "frame.arrow", "frame", {}),
    ("frame shard, decode+pad uint8, verify_crc=False", "frame.arrow", "frame", {"verify_crc": False}),
    ("video TFRecord, decode", "video.tfrecord", "video", {}),
    ("video shard, decode", "video.arrow", "video", {}),
]


def make_files(root: Path, videos: int) -> None:
    from yt8m.io import VideoRecord, dequantize, write_records

    rng = np.random.default_rng(0)
    frame_records, video_records = [], []
    for i in range(videos):
        n = int(rng.integers(120, 301))
        rgb = rng.integers(0, 256, (n, 1024), dtype=np.uint8)
        audio = rng.integers(0, 256, (n, 128), dtype=np.uint8)
        labels = rng.choice(3862, size=3, replace=False).astype(np.int64)
        frame_records.append(VideoRecord(f"{i:04x}", labels, {"rgb": rgb, "audio": audio}))
        video_records.append(VideoRecord(f"{i:04x}", labels, {"mean_rgb": dequantize(rgb).mean(0), "mean_audio": dequantize(audio).mean(0)}))
    write_records(root / "frame.tfrecord", frame_records, "frame")
    write_records(root / "frame.tfrecord.gz", frame_records, "frame", compression="gzip")
    write_records(root / "frame.arrow", frame_records, "frame", format="shard")
    write_records(root / "video.tfrecord", video_records, "video")
    write_records(root / "video.arrow", video_records, "video", format="shard")


def measure(root: Path, videos: int) -> dict[str, float]:
    """videos per CPU-second per case with whatever `yt8m` is importable (the tree under test)."""
    import inspect

    from yt8m.io import read_records
    from yt8m.io.reader import frames_matrix

    takes_verify = "verify_crc" in inspect.signature(read_records).parameters
    rates = {}
    for name, file, kind, options in CASES:
        options = dict(options)
        dequantized = options.pop("dequantized", False)
        if not takes_verify:
            options.pop("verify_crc", None)

        def one_pass() -> int:
            n = 0
            for record in read_records(str(root / file), kind, **options):
                if kind == "frame":
                    frames_matrix([record.features["rgb"], record.features["audio"]], MAX_FRAMES, dequantized=dequantized)
                n += 1
            return n

        one_pass()  # warm the page cache
        best = float("inf")
        for _ in range(3):
            start = time.process_time()  # CPU seconds: on a shared machine, waiting for a core is not reading
            n = one_pass()
            best = min(best, time.process_time() - start)
        assert n == videos, (name, n)
        rates[name] = n / best
    rates.update(measure_loader(root, videos))
    return rates


LOADER_CASES = ["loader, frame shard -> padded uint8 batches of 32", "loader, frame shard -> padded uint8 batches of 32, verify_crc=False"]


def measure_loader(root: Path, videos: int) -> dict[str, float]:
    """The path training reads through (VideoDataset + collate, in-process). A tree without
    `data.verify_checksums` (before it) reads the default way only: its unchecked read is the
    baseline of the first case."""
    import dataclasses

    from yt8m.data.loader import DataConfig, VideoDataset

    switch = "verify_checksums" in {f.name for f in dataclasses.fields(DataConfig)}
    rates = {}
    for name, verify in zip(LOADER_CASES, (True, False) if switch else (None,)):
        options = {"verify_checksums": verify} if switch else {}
        config = DataConfig(kind="frame", batch_size=32, max_frames=MAX_FRAMES, pad_to="max_frames", **options)

        def one_pass() -> int:
            return sum(len(batch["ids"]) for batch in VideoDataset([str(root / "frame.arrow")], config))

        one_pass()
        best = float("inf")
        for _ in range(3):
            start = time.process_time()
            n = one_pass()
            best = min(best, time.process_time() - start)
        assert n == videos, (name, n)
        rates[name] = n / best
    return rates


def run_tree(src: Path, root: Path, videos: int) -> dict[str, float]:
    env = {**os.environ, "PYTHONPATH": str(src), "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    out = subprocess.run(
        [sys.executable, __file__, "--measure", str(root), "--videos", str(videos)], env=env, check=True, capture_output=True, text=True
    ).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--baseline", help="a source tree (its src/ folder) to compare with, e.g. /tmp/yt8m-base/src")
    parser.add_argument("--label", default="baseline", help="how to name the baseline in the table (e.g. its commit)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--videos", type=int, default=int(os.environ.get("BENCH_READ_VIDEOS", "600")))
    parser.add_argument("--measure", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})  # one core, inherited by the subprocesses
    if args.measure:
        print(json.dumps(measure(Path(args.measure), args.videos)))
        return
    if not args.baseline:  # `make bench` runs every script bare: keep the last comparison
        print("bench_read_checks: no --baseline tree given, nothing measured (see the module docstring)")
        return
    current_src = ROOT / "src"
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        make_files(root, args.videos)
        base_runs, new_runs = [], []
        for round_ in range(args.rounds):  # alternate, so drifting machine load hits both alike
            first, second = (args.baseline, current_src) if round_ % 2 == 0 else (current_src, args.baseline)
            results = {str(first): run_tree(Path(first), root, args.videos), str(second): run_tree(Path(second), root, args.videos)}
            base_runs.append(results[str(args.baseline)])
            new_runs.append(results[str(current_src)])
    raw = {"videos": args.videos, "rounds": args.rounds, "label": args.label, "cases": [name for name, *_ in CASES] + LOADER_CASES,
           "baseline": base_runs, "current": new_runs, "load_average": os.getloadavg()[0]}
    command = f"python benchmarks/bench_read_checks.py --baseline <tree of {args.label}>/src --label {args.label} --rounds {args.rounds} --videos {args.videos}"
    print(publish(__file__, "read_checks", "Clean read path with issue 9's checks, against the tree before them", command, raw))


def _ratio(new: np.ndarray, base: np.ndarray) -> tuple[float, float, str]:
    """Mean of the per-round ratios, two standard errors, and the verdict on ">= LIMIT"."""
    ratios = new / base
    mean, se = float(ratios.mean()), float(ratios.std(ddof=1) / np.sqrt(len(ratios)))
    return mean, 2 * se, interval_verdict(mean, se, LIMIT)


def render(raw: dict) -> str:
    """The section from the stored per-round rates alone."""
    base_runs, new_runs, label = raw["baseline"], raw["current"], raw["label"]
    rows = []
    for name in raw["cases"]:
        new = np.array([r[name] for r in new_runs])
        if all(name in r for r in base_runs):
            base = np.array([r[name] for r in base_runs])
            mean, two_se, verdict = _ratio(new, base)
            base_rate, versus = float(base.mean()), f"{mean:.3f} ± {two_se:.3f}"
        else:  # a path the baseline tree does not have
            base_rate, versus, verdict = "–", "–", "–"
        unchecked = name + ", verify_crc=False"
        cost = "–"
        if unchecked in raw["cases"]:  # the checksums' own cost, paired within the current tree's rounds
            c_mean, c_two_se, _ = _ratio(new, np.array([r[unchecked] for r in new_runs]))
            cost = f"{c_mean:.3f} ± {c_two_se:.3f}"
        rows.append([name, base_rate, float(new.mean()), versus, verdict, cost])
    table = markdown_table(
        ["case", f"{label} videos/CPU-s", "current videos/CPU-s", "current / baseline (± 2 SE)", "≤ 5 % slower", "checked / unchecked, current tree (± 2 SE)"], rows
    )
    return (
        f"{raw['videos']} frame-level videos of 120–300 frames (and the matching video-level records), read with\n"
        f"`read_records` (+ padding to 300 frames for frame-level; dequantized to float32 where named: the official reader's work), one core, CPU time, best of 3 passes per round, {raw['rounds']} rounds\n"
        f"alternating the two trees. Baseline: `{label}` (it ignores the shard checksum columns); current: this tree. "
        f"Frame-level shards are checksummed row by row just before use (XXH3-64 of every byte read, format 3 shards: the last column is its cost within this tree); "
        f"the loader case's baseline is the earlier tree's loader, which reads shards unchecked. "
        f"The machine's 1-minute load average at the end was {raw['load_average']:.1f} on 2 cores (CPU time does not count waiting, but shared caches and memory bandwidth still do).\n\n{table}\n"
    )


if __name__ == "__main__":
    main()
