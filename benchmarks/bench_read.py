"""Read throughput on one core: TFRecords and shards, ours vs the `tfrecord` PyPI reader.

Same files for every reader, measured side by side in one run. "decode+dequantize+pad" is what
TensorFlow's official frame reader does per video (parse, uint8 -> float32 with the official
constants, pad/truncate to 300 frames); "decode+pad uint8" is what our loader hands to the model
(dequantization happens in the model). There is no TensorFlow column: TensorFlow is not installed
beside yt8m (a ~600 MB dependency that pins protobuf), and a figure typed in from elsewhere is not
a side-by-side measurement (issue 11). The raw speeds go to results/read.json; `render` makes the
section from them alone.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.common import markdown_table, publish  # noqa: E402

MAX_FRAMES = 300
PASSES = 3
BASELINE = "tfrecord (PyPI) reader"


def make_files(root: Path, videos: int) -> dict[str, Path]:
    from yt8m.io import VideoRecord, dequantize, write_records

    rng = np.random.default_rng(0)
    frame_records, video_records = [], []
    for i in range(videos):
        n = int(rng.integers(120, 301))  # real videos: 120-300 s at 1 fps
        rgb = rng.integers(0, 256, (n, 1024), dtype=np.uint8)
        audio = rng.integers(0, 256, (n, 128), dtype=np.uint8)
        labels = rng.choice(3862, size=3, replace=False).astype(np.int64)
        frame_records.append(VideoRecord(f"{i:04x}", labels, {"rgb": rgb, "audio": audio}))
        video_records.append(VideoRecord(f"{i:04x}", labels, {"mean_rgb": dequantize(rgb).mean(0), "mean_audio": dequantize(audio).mean(0)}))
    paths = {
        "frame_tfrecord": root / "frame.tfrecord",
        "frame_shard": root / "frame.arrow",
        "video_tfrecord": root / "video.tfrecord",
        "video_shard": root / "video.arrow",
    }
    write_records(paths["frame_tfrecord"], frame_records, "frame")
    write_records(paths["frame_shard"], frame_records, "frame", format="shard")
    write_records(paths["video_tfrecord"], video_records, "video")
    write_records(paths["video_shard"], video_records, "video", format="shard")
    return paths


def ours_frames(path: Path, dequant: bool) -> int:
    from yt8m.io import read_records
    from yt8m.io.reader import frames_matrix

    n = 0
    for record in read_records(str(path), "frame"):
        frames_matrix([record.features["rgb"], record.features["audio"]], MAX_FRAMES, dequantized=dequant)
        n += 1
    return n


def pypi_frames(path: Path, dequant: bool) -> int:
    import tfrecord

    from yt8m.io.reader import frames_matrix

    n = 0
    loader = tfrecord.tfrecord_loader(str(path), None, {"id": "byte", "labels": "int"}, sequence_description={"rgb": "byte", "audio": "byte"})
    for _, seq in loader:
        rgb = np.frombuffer(b"".join(seq["rgb"]), np.uint8).reshape(-1, 1024)
        audio = np.frombuffer(b"".join(seq["audio"]), np.uint8).reshape(-1, 128)
        frames_matrix([rgb, audio], MAX_FRAMES, dequantized=dequant)  # the same post-processing as ours
        n += 1
    return n


def ours_videos(path: Path) -> int:
    from yt8m.io import read_records

    return sum(np.concatenate([r.features["mean_rgb"], r.features["mean_audio"]]).size > 0 for r in read_records(str(path), "video"))


def pypi_videos(path: Path) -> int:
    import tfrecord

    loader = tfrecord.tfrecord_loader(str(path), None, {"id": "byte", "labels": "int", "mean_rgb": "float", "mean_audio": "float"})
    return sum(np.concatenate([r["mean_rgb"], r["mean_audio"]]).size > 0 for r in loader)


def measure(fn, path: Path, *args, repeat: int = PASSES) -> tuple[float, int]:
    fn(path, *args)  # warm the page cache
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        n = fn(path, *args)
        best = min(best, time.perf_counter() - start)
    return best, n


def render(raw: dict) -> str:
    """The section from the stored speeds alone (tests/test_benchmarks_md.py re-renders it)."""
    rows, speed = [], {(r["level"], r["reader"], r["work"]): r["videos_per_s"] for r in raw["rows"]}
    for r in raw["rows"]:
        base = speed[(r["level"], BASELINE, r["work"])]
        rows.append([r["level"], r["reader"], r["work"], r["videos_per_s"], r["mb_per_s"], f"{r['videos_per_s'] / base:.1f}×"])
    table = markdown_table(["level", "reader", "work per video", "videos/s", "MB/s (file)", "vs PyPI tfrecord"], rows)
    busy = (": other processes competed for the pinned core, so absolute speeds are low and noisy; the ratios compare "
            "readers measured under the same load") if raw["load_average"] > raw["cores"] else ""
    shard = speed[("frame", "yt8m read_records, shard", "decode+pad uint8")]
    tfrecord = speed[("frame", "yt8m read_records, TFRecord", "decode+pad uint8")]
    return (
        f"{raw['videos']} frame-level videos of 120–300 frames (uniform; 1024 rgb + 128 audio bytes per frame) and the matching\n"
        f"video-level records, one process pinned to one core, best of {raw['passes']} passes over a warm page cache, every reader\n"
        f"on the same files in one run. No TensorFlow column: TensorFlow is not installed beside yt8m, and a figure\n"
        f"from another run is not a side-by-side ratio. The machine's 1-minute load average at the end was\n"
        f"{raw['load_average']:.1f} on {raw['cores']} cores{busy}.\n\n{table}\n\n"
        f"- Shards over TFRecords (ours, padded uint8 frames): {shard / tfrecord:.1f}× ({shard:,.0f} vs {tfrecord:,.0f} videos/s).\n"
    )


def main() -> None:
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})  # one core
    videos = int(os.environ.get("BENCH_READ_VIDEOS", "1500"))
    with tempfile.TemporaryDirectory() as tmp:
        paths = make_files(Path(tmp), videos)
        cases = [
            ("frame", BASELINE, "decode+dequantize+pad", pypi_frames, "frame_tfrecord", (True,)),
            ("frame", "yt8m read_records, TFRecord", "decode+dequantize+pad", ours_frames, "frame_tfrecord", (True,)),
            ("frame", "yt8m read_records, shard", "decode+dequantize+pad", ours_frames, "frame_shard", (True,)),
            ("frame", BASELINE, "decode+pad uint8", pypi_frames, "frame_tfrecord", (False,)),
            ("frame", "yt8m read_records, TFRecord", "decode+pad uint8", ours_frames, "frame_tfrecord", (False,)),
            ("frame", "yt8m read_records, shard", "decode+pad uint8", ours_frames, "frame_shard", (False,)),
            ("video", BASELINE, "decode", pypi_videos, "video_tfrecord", ()),
            ("video", "yt8m read_records, TFRecord", "decode", ours_videos, "video_tfrecord", ()),
            ("video", "yt8m read_records, shard", "decode", ours_videos, "video_shard", ()),
        ]
        rows = []
        for level, reader, work, fn, key, args in cases:
            seconds, n = measure(fn, paths[key], *args)
            assert n == videos, (reader, n)
            mb = os.path.getsize(paths[key]) / 1e6
            rows.append({"level": level, "reader": reader, "work": work, "videos_per_s": n / seconds, "mb_per_s": mb / seconds})
    raw = {"videos": videos, "passes": PASSES, "rows": rows, "load_average": os.getloadavg()[0], "cores": os.cpu_count()}
    print(publish(__file__, "read", "Read throughput (issue 2)", "python benchmarks/bench_read.py", raw))


if __name__ == "__main__":
    main()
