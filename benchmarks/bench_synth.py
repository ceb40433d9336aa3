"""Synthetic generator throughput (issue 2, section 4): videos/s and MB/s with 1 and 2 worker processes.

A preset-sized sample: the `medium` world (3862 classes, 1024 + 128 official feature sizes, 2048-wide
ReLU layer before the PCA) with a few hundred train videos; every video is written frame- and
video-level, exactly as `yt8m synth --preset medium` does. Also reports where one video's time goes.

`--versions` (issue 12) instead compares generator version 3 with version 2 (`world_version=2`) per
video, in CPU time, interleaved in one process, and writes its own section (synth_versions).
"""

from __future__ import annotations

import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402

from benchmarks.common import markdown_table, write_section  # noqa: E402
from yt8m.io import RecordSchema, VideoRecord, encode_record  # noqa: E402
from yt8m.synth import SPLITS, SynthConfig, World, generate, sample_truth  # noqa: E402
from yt8m.synth.render import render_many  # noqa: E402

VIDEOS = 1536
SHARDS = 16
VERSIONS = (2, 3)
REPEATS = 4
VERSION_VIDEOS = 32
SAMPLE = dict(
    train_videos=VIDEOS, train_shards=SHARDS, validate_videos=0, test_videos=0, rated_test_videos=0,
    segment_validate_videos=0, segment_test_videos=0,
)


def _cpu_seconds() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def _run(workers: int, root: Path) -> dict:
    out = root / f"w{workers}"
    shutil.rmtree(out, ignore_errors=True)
    wall, cpu = time.perf_counter(), _cpu_seconds()
    manifest = generate(out, "medium", 0, workers, progress=False, **SAMPLE)
    wall, cpu = time.perf_counter() - wall, _cpu_seconds() - cpu
    megabytes = sum(o["bytes"] for o in manifest["outputs"].values()) / 1e6
    return {"workers": workers, "wall": wall, "cpu": cpu, "videos": VIDEOS, "mb": megabytes, "out": out}


def _worker_startup() -> float:
    """CPU seconds a fresh worker process spends importing the generator (and what yt8m.data pulls in)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run([sys.executable, "-c", "import yt8m.synth"], check=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)


def _stages() -> list[list]:
    """Per-video cost of each step, in this process with one BLAS thread."""
    config = SynthConfig.from_preset("medium")
    with threadpool_limits(1):
        start = time.process_time()
        world = World.build(config)
        build = time.process_time() - start
        start = time.process_time()
        truths = [sample_truth(world, "train", i) for i in range(64)]
        truth = (time.process_time() - start) / len(truths)
        start = time.process_time()
        features = [f for i in range(0, 64, 16) for f in render_many(world, truths[i: i + 16])]
        render = (time.process_time() - start) / len(truths)
    schema = RecordSchema(kind="frame", num_classes=config.num_classes)
    start = time.process_time()
    for t, f in zip(truths, features):
        encode_record(VideoRecord(t.id, t.observed_labels, f), schema)
    encode = (time.process_time() - start) / len(truths)
    frames = np.mean([t.num_frames for t in truths])
    return [
        ["worker start-up: spawn + `import yt8m.synth` (yt8m.data imports torch)", f"{_worker_startup():.2f} s"],
        ["World.build (structure + PCA fit on 16,384 frames), once, in the calling process", f"{build:.2f} s"],
        ["sample_truth (labels, shots, visibility, noisy labels)", f"{truth * 1e3:.2f} ms/video"],
        ["render (latents → ReLU 2048 → PCA 1024 + audio → uint8)", f"{render * 1e3:.1f} ms/video"],
        ["encode frame-level SequenceExample", f"{encode * 1e3:.2f} ms/video"],
        ["mean frames per video", f"{frames:.0f}"],
    ]


def _per_video_cpu(world: World, start: int, count: int) -> float:
    """CPU seconds per video of everything a shard job does for a video but the file write: truth,
    render (in chunks of 16, like the jobs), encode."""
    schema = RecordSchema(kind="frame", num_classes=world.config.num_classes)
    begin = time.process_time()
    truths = [sample_truth(world, "train", i) for i in range(start, start + count)]
    for i in range(0, count, 16):
        for t, f in zip(truths[i: i + 16], render_many(world, truths[i: i + 16])):
            encode_record(VideoRecord(t.id, t.observed_labels, f), schema)
    return (time.process_time() - begin) / count


def versions() -> None:
    """Generator version 3 against version 2 on the medium world: per-video CPU time, interleaved."""
    load = os.getloadavg()[0]
    with threadpool_limits(1):
        worlds = {v: World.build(SynthConfig.from_preset("medium", world_version=v)) for v in VERSIONS}
        costs = {v: [] for v in VERSIONS}
        for repeat in range(REPEATS):  # the same videos (by index) for both versions, alternating
            for v in VERSIONS:
                costs[v].append(_per_video_cpu(worlds[v], repeat * VERSION_VIDEOS, VERSION_VIDEOS))
    stats = {v: (np.mean(c), np.std(c, ddof=1) / np.sqrt(len(c))) for v, c in costs.items()}
    ratios = np.array(costs[3]) / np.array(costs[2])
    ratio, ratio_se = float(ratios.mean()), float(ratios.std(ddof=1) / np.sqrt(len(ratios)))
    if ratio + 2 * ratio_se < 2.0:
        verdict = "holds"
    elif ratio - 2 * ratio_se > 2.0:
        verdict = "does not hold"
    else:
        verdict = "not resolved"
    rows = [[f"version {v}", f"{stats[v][0] * 1e3:.1f} ± {stats[v][1] * 1e3:.1f}"] for v in VERSIONS]
    body = "\n\n".join([
        f"Per-video CPU time (process time, one BLAS thread) of truth + render + encode on the `medium` world, "
        f"{REPEATS} interleaved repeats of {VERSION_VIDEOS} train videos per version (the same video indices), "
        "mean ± standard error over the repeats. Version 2 is `--set world_version=2` (the old world, same bytes).",
        markdown_table(["generator", "ms CPU per video"], rows),
        f"Version 3 / version 2, paired by repeat: {ratio:.2f} ± {ratio_se:.2f}. Claim \"version 3 stays within 2× "
        f"of version 2 per video\" (ratio + 2 SE < 2): {verdict}.",
        f"1-minute load average at the start: {load:.1f} on {os.cpu_count()} cores (CPU time, not wall time, so the "
        "load does not enter the ratio).",
    ])
    write_section("synth_versions", "Synthetic generator: version 3 against version 2 per video (issue 12)",
                  ".venv/bin/python benchmarks/bench_synth.py --versions", body)
    print(body)


def main() -> None:
    if "--versions" in sys.argv[1:]:
        versions()
        return
    load = os.getloadavg()[0]
    root = Path(tempfile.mkdtemp(prefix="bench_synth_"))
    try:
        runs = [_run(1, root), _run(2, root)]
        same = all(
            (runs[0]["out"] / p.relative_to(runs[1]["out"])).read_bytes() == p.read_bytes()
            for p in runs[1]["out"].rglob("*") if p.is_file()
        )
        stages = _stages()
    finally:
        shutil.rmtree(root, ignore_errors=True)
    base = runs[0]["videos"] / runs[0]["wall"]
    rows = [
        [r["workers"], r["videos"], round(r["mb"], 1), round(r["wall"], 1), round(r["cpu"], 1), round(r["cpu"] / r["wall"], 2),
         round(r["videos"] / r["wall"], 1), round(r["mb"] / r["wall"], 1), round(r["videos"] / r["wall"] / base, 2)]
        for r in runs
    ]
    best = max(r["videos"] / r["wall"] for r in runs)
    full = SynthConfig.from_preset("full")
    medium = SynthConfig.from_preset("medium")
    medium_videos = sum(getattr(medium, f"{s}_videos") for s in SPLITS)
    full_videos = sum(getattr(full, f"{s}_videos") for s in SPLITS)
    body = "\n\n".join([
        f"Sample: the `medium` world (3862 classes, rgb 1024 + audio 128, ReLU width 2048), {VIDEOS} train videos "
        f"in {SHARDS} shards, frame- and video-level records. Wall and CPU seconds cover the whole `generate` call: "
        "World.build once in the calling process, then (2 workers) spawning the workers and handing them the World.",
        markdown_table(["workers", "videos", "MB written", "wall s", "CPU s", "cores busy (CPU/wall)", "videos/s", "MB/s", "speed-up"], rows),
        f"Same bytes with 1 and 2 workers: {'yes' if same else 'NO'}. "
        f"At {best:.0f} videos/s: `medium` ({medium_videos:,} videos) ≈ {medium_videos / best / 60:.0f} min, "
        f"`full` ({full_videos:,} videos, ≈ {runs[0]['mb'] / VIDEOS * full_videos / 1e6:.1f} TB) ≈ "
        f"{full_videos / best / 3600:.0f} h on this machine.",
        "### Where one video's time goes (one process, one BLAS thread, CPU time)",
        markdown_table(["step", "cost"], stages),
        f"1-minute load average at the start: {load:.1f} on {os.cpu_count()} cores. On this shared machine the "
        "`cores busy` column shows how much CPU the run actually got: a second worker only helps when a second "
        "core is free. Fixed costs: World.build once per run, worker start-up once per worker process.",
    ])
    write_section("synth", "Synthetic data generator throughput (issue 2, section 4)", ".venv/bin/python benchmarks/bench_synth.py", body)
    print(body)


if __name__ == "__main__":
    main()
