"""Past one machine (issue 16): training on 1 and 2 ranks, sharded prediction, object-store reads, sizing.

1. training: videos/s per rank for 1 and 2 ranks (gloo on CPU; NCCL and one GPU per rank when CUDA
   is present) for the official DBoF (frame level, 30 sampled frames) and video-level MoE configs,
   and the communication share of a step: 1 − (step time without the gradient all-reduce, DDP's
   no_sync) / (step time with it), alternating the two on the same ranks;
2. sharded prediction: `yt8m predict` in one process, under torchrun with 2 ranks and with
   `--dask local:2`, wall time of the whole command (start-up included) and the rate predict
   reports; the three CSVs are compared byte for byte here;
3. object-store reads: `open_binary` over HTTP Range requests from a local server, MB/s for 1, 8
   and 32 MiB blocks, with no added latency and with 20 ms before every response (an object store's
   time to first byte);
4. the README sizing guide: disk, memory per rank and hours per epoch for the full dataset on 1 GPU,
   8 GPUs and 4 nodes × 8 GPUs, computed in `render` from the numbers above.

Run: `nice -n 10 .venv/bin/python benchmarks/bench_scale.py` (about 14 minutes on 2 shared cores), or
one part at a time, each under 10 minutes: `... bench_scale.py read|predict|train`, then `... report`.
Parts leave their rows in benchmarks/.cache/scale/; the data is generated there once.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))  # the Range server the object-store test uses

from benchmarks.common import CACHE, markdown_table, mean_se, plus_minus, publish  # noqa: E402

OUT = CACHE / "scale"

COMMAND = "nice -n 10 .venv/bin/python benchmarks/bench_scale.py"
REPEATS = 3
STEPS = 8  # timed steps per run, half with the all-reduce and half without, alternating
WARMUP = 2
MODELS = {
    # name: (shipped config, per-rank batch, overrides)
    "dbof (frame, 30 sampled frames)": ("frame_dbof", 16, ["data.num_workers=0", "data.shuffle_buffer=64"]),
    "moe (video level)": ("video_moe", 128, ["data.num_workers=0", "data.shuffle_buffer=1024"]),
}
BLOCKS_MIB = (1, 8, 32)
LATENCIES_MS = (0, 20)
# the full YouTube-8M (2018) frame-level dataset: 6.1 M videos, 1.53 TB of TFRecords (the dataset's page)
FULL_VIDEOS, FULL_TFRECORD_TB = 6.1e6, 1.53
SETUPS = (("1 GPU", 1), ("8 GPUs (1 node)", 8), ("4 nodes × 8 GPUs", 32))
EPOCHS = 5  # the official num_epochs


# -- data ----------------------------------------------------------------------------------------

def make_data(root: Path) -> dict:
    from yt8m.io import VideoRecord, write_records

    rng = np.random.default_rng(0)
    frames, videos = [], []
    for i in range(480):
        n = int(rng.integers(120, 301))
        rgb, audio = rng.integers(0, 256, (n, 1024), dtype=np.uint8), rng.integers(0, 256, (n, 128), dtype=np.uint8)
        labels = rng.choice(3862, size=3, replace=False).astype(np.int64)
        frames.append(VideoRecord(f"f{i:05d}", labels, {"rgb": rgb, "audio": audio}))
    for i in range(4000):
        labels = rng.choice(3862, size=3, replace=False).astype(np.int64)
        videos.append(VideoRecord(f"v{i:05d}", labels, {"mean_rgb": rng.normal(size=1024).astype(np.float32), "mean_audio": rng.normal(size=128).astype(np.float32)}))
    for k in range(2):
        write_records(root / "frame" / f"train{k}.tfrecord", frames[k::2], "frame")
    for k in range(4):
        write_records(root / "video" / f"train{k}.tfrecord", videos[k::4], "video")
    write_records(root / "frame_shard.arrow", frames[0::2], "frame", format="shard")
    return {
        "frame": str(root / "frame" / "*.tfrecord"), "video": str(root / "video" / "*.tfrecord"),
        "shard_over_tfrecord": (root / "frame_shard.arrow").stat().st_size / (root / "frame" / "train0.tfrecord").stat().st_size,
    }


# -- 1. training ---------------------------------------------------------------------------------

def _train_rank(rank: int, world: int, address: str, config_name: str, batch: int, overrides: list, data: str, seed: int, out: str) -> None:
    import contextlib
    import resource

    import torch
    import torch.distributed as dist

    from yt8m.data.loader import VideoDataset, loader_for
    from yt8m.train.build import build_loss, build_model
    from yt8m.train.config import load_config
    from yt8m.train.optim import make_optimizer

    torch.set_num_threads(1)
    cuda = torch.cuda.is_available()
    device = torch.device(f"cuda:{rank}" if cuda else "cpu")
    if world > 1:
        if cuda:
            torch.cuda.set_device(device)
        dist.init_process_group("nccl" if cuda else "gloo", init_method=address, rank=rank, world_size=world)
    cfg = load_config(config_name, [*overrides, f"optimizer.batch_size={batch}", f"train.seed={seed}"])
    torch.manual_seed(seed)
    model = build_model(cfg).to(device)
    loss_fn = build_loss(cfg, None)
    net = torch.nn.parallel.DistributedDataParallel(model, device_ids=[device.index] if cuda else None) if world > 1 else model
    optimizer = make_optimizer(model.parameters(), cfg.optimizer)
    data_cfg = type(cfg.data)(**{**cfg.data.__dict__, "batch_size": batch})
    dataset = VideoDataset(data, data_cfg, training=True, seed=seed, rank=rank, world_size=world)
    batches = iter(loader_for(dataset, pin_memory=cuda))
    sync_times, local_times, waits = [], [], []
    for step in range(WARMUP + STEPS):
        start = time.perf_counter()
        b = next(batches)
        waited = time.perf_counter() - start
        with_sync = world == 1 or step % 2 == 0
        start = time.perf_counter()
        with (contextlib.nullcontext() if with_sync else net.no_sync()):
            outputs = net(b["features"].to(device), b["num_frames"].to(device))
            loss = loss_fn({k: v.float() for k, v in outputs.items()}, b["labels"].to(device))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
        optimizer.step()
        if cuda:
            torch.cuda.synchronize()
        seconds = time.perf_counter() - start
        if step >= WARMUP:
            (sync_times if with_sync else local_times).append(seconds)
            waits.append(waited)
    result = {"rank": rank, "step_s": float(np.mean(sync_times)), "local_step_s": float(np.mean(local_times)) if local_times else None,
              "wait_s": float(np.mean(waits)), "batch": batch, "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
              "device": torch.cuda.get_device_name(device) if cuda else "cpu"}
    Path(out).with_name(f"{Path(out).name}.{rank}").write_text(json.dumps(result))
    if world > 1:
        dist.destroy_process_group()


def train_throughput(data: dict, tmp: Path) -> list[dict]:
    import torch
    import torch.multiprocessing as mp

    rows = []
    worlds = [1, 2] if not torch.cuda.is_available() else [w for w in (1, 2) if w <= torch.cuda.device_count()]
    for name, (config_name, batch, overrides) in MODELS.items():
        source = data["frame"] if "frame" in name else data["video"]
        for seed in range(REPEATS):
            for world in worlds:  # 1 and 2 ranks side by side, per seed
                out = tmp / f"train-{config_name}-{world}-{seed}"
                address = f"file://{tmp}/rendezvous-{config_name}-{world}-{seed}"
                mp.start_processes(_train_rank, args=(world, address, config_name, batch, overrides, source, seed, str(out)), nprocs=world, start_method="spawn")
                ranks = [json.loads(out.with_name(f"{out.name}.{r}").read_text()) for r in range(world)]
                step = max(r["step_s"] + r["wait_s"] for r in ranks)  # the slowest rank sets the pace
                local = max(r["local_step_s"] + r["wait_s"] for r in ranks) if world > 1 else None
                rows.append({"model": name, "ranks": world, "seed": seed, "videos_per_s_per_rank": batch / step,
                             "comm_share": None if local is None else 1 - local / step, "peak_rss_mb": max(r["peak_rss_mb"] for r in ranks),
                             "device": ranks[0]["device"], "backend": ("nccl" if ranks[0]["device"] != "cpu" else "gloo") if world > 1 else "-"})
                print(f"[scale] train {name} ranks={world} seed={seed}: {rows[-1]['videos_per_s_per_rank']:.1f} videos/s per rank", flush=True)
    return rows


# -- 2. sharded prediction -------------------------------------------------------------------------

def predict_runs(data: dict, tmp: Path) -> dict:
    from yt8m.train.config import load_config
    from yt8m.train.trainer import train

    config = load_config("video_moe", ["data.num_workers=0", "train.max_steps=2", "train.tensorboard=false", "optimizer.batch_size=64"])
    train(config, data["video"], tmp / "run", progress=False)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    modes = {
        "1 process": [sys.executable, "-m", "yt8m", "predict"],
        "torchrun, 2 ranks": [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "-m", "yt8m", "predict"],
        "Dask, 2 workers": [sys.executable, "-m", "yt8m", "predict", "--dask", "local:2"],
    }
    rows, outputs = [], {}
    for seed in range(REPEATS):
        for mode, command in modes.items():
            out = tmp / f"predict-{len(outputs)}.csv"
            start = time.perf_counter()
            done = subprocess.run([*command, str(tmp / "run"), "--data", data["video"], "--out", str(out)], env=env, capture_output=True, text=True, check=True)
            wall = time.perf_counter() - start
            videos, ms = re.search(r"wrote (\d+) videos .*\(([\d.]+) ms/video\)", done.stdout).groups()
            rows.append({"mode": mode, "seed": seed, "videos": int(videos), "wall_s": wall, "videos_per_s_wall": int(videos) / wall, "videos_per_s_reported": 1000 / float(ms)})
            outputs.setdefault(mode, set()).add(out.read_bytes())
            print(f"[scale] predict {mode}: {wall:.1f} s", flush=True)
    distinct = {o for mode in outputs.values() for o in mode}
    return {"rows": rows, "identical": len(distinct) == 1}


# -- 3. object-store reads -------------------------------------------------------------------------

def read_throughput(tmp: Path) -> list[dict]:
    from range_server import RangeServer
    from yt8m.io.paths import open_binary

    folder = tmp / "bucket"
    folder.mkdir()
    size = 64 << 20
    (folder / "blob.bin").write_bytes(np.random.default_rng(0).integers(0, 256, size, dtype=np.uint8).tobytes())
    rows = []
    for latency in LATENCIES_MS:
        with RangeServer(folder, latency=latency / 1000) as url:
            for seed in range(REPEATS):
                for block in BLOCKS_MIB:
                    start = time.perf_counter()
                    with open_binary(f"{url}/blob.bin", block_size=block << 20) as f:
                        total = sum(len(chunk) for chunk in iter(lambda: f.read(256 << 10), b""))
                    seconds = time.perf_counter() - start
                    assert total == size
                    rows.append({"latency_ms": latency, "block_mib": block, "seed": seed, "mb_per_s": size / 1e6 / seconds})
    return rows


# -- the section -----------------------------------------------------------------------------------

def _pm(values, digits=1):
    return plus_minus(*mean_se(list(values)), digits)


def render(raw: dict) -> str:
    train_rows = []
    per_rank: dict = {}
    for name in dict.fromkeys(r["model"] for r in raw["train"]):
        for ranks in sorted({r["ranks"] for r in raw["train"] if r["model"] == name}):
            rs = [r for r in raw["train"] if r["model"] == name and r["ranks"] == ranks]
            speed = [r["videos_per_s_per_rank"] for r in rs]
            per_rank[(name, ranks)] = mean_se(speed)
            comm = [r["comm_share"] for r in rs if r["comm_share"] is not None]
            train_rows.append([name, ranks, rs[0]["backend"], rs[0]["device"], _pm(speed), _pm([s * ranks for s in speed]),
                               _pm([100 * c for c in comm]) + " %" if comm else "–", f"{max(r['peak_rss_mb'] for r in rs):.0f}"])
    predict_rows = []
    for mode in dict.fromkeys(r["mode"] for r in raw["predict"]["rows"]):
        rs = [r for r in raw["predict"]["rows"] if r["mode"] == mode]
        predict_rows.append([mode, rs[0]["videos"], _pm([r["wall_s"] for r in rs]), _pm([r["videos_per_s_wall"] for r in rs], 0), _pm([r["videos_per_s_reported"] for r in rs], 0)])
    read_rows = []
    for latency in dict.fromkeys(r["latency_ms"] for r in raw["read"]):
        base = mean_se([r["mb_per_s"] for r in raw["read"] if r["latency_ms"] == latency and r["block_mib"] == 1])[0]
        for block in dict.fromkeys(r["block_mib"] for r in raw["read"]):
            v = [r["mb_per_s"] for r in raw["read"] if r["latency_ms"] == latency and r["block_mib"] == block]
            read_rows.append([f"{latency} ms", f"{block} MiB", _pm(v, 0), f"{mean_se(v)[0] / base:.2f}×"])
    # sizing: the frame-level model's measured per-rank rate (at 2 ranks when measured: communication included)
    frame = next(n for n in dict.fromkeys(r["model"] for r in raw["train"]) if "frame" in n)
    ranks_measured = max(k for (n, k) in per_rank if n == frame)
    rate, rate_se = per_rank[(frame, ranks_measured)]
    single = per_rank[(frame, 1)][0]
    rss = max(r["peak_rss_mb"] for r in raw["train"] if r["model"] == frame)
    shard_tb = FULL_TFRECORD_TB * raw["shard_over_tfrecord"]
    sizing = []
    device = raw["train"][0]["device"]
    for setup, ranks in SETUPS:
        speed = single if ranks == 1 else rate
        hours = FULL_VIDEOS / (speed * ranks) / 3600
        setup = setup if device != "cpu" else setup.replace("GPUs", "CPU ranks").replace("GPU", "CPU rank")
        sizing.append([setup, ranks, f"{speed:.1f}", f"{hours:,.1f}", f"{EPOCHS * hours:,.0f}", f"{FULL_TFRECORD_TB:.2f} + {shard_tb:.2f}", f"{rss / 1024:.1f}"])
    return (
        f"Ranks are processes on this machine ({raw['cores']} shared cores, one thread each; device: {device}). Training: the shipped "
        f"configs with a per-rank batch of {', '.join(str(MODELS[n][1]) for n in MODELS)} ({', '.join(MODELS)}), {STEPS} timed steps after "
        f"{WARMUP} warm-up steps, {REPEATS} runs each (mean ± standard error); on CUDA the same script runs NCCL with one GPU per rank.\n\n"
        + markdown_table(["model", "ranks", "backend", "device", "videos/s per rank", "videos/s, all ranks", "communication share of a step", "peak RSS per rank (MB)"], train_rows)
        + "\n\nCommunication share: 1 − (step without the gradient all-reduce) / (step with it), both timed on the same ranks in "
        "alternation. Two CPU ranks on two shared cores also compete for the cores, so the per-rank rate at 2 ranks is a lower bound.\n\n"
        f"Sharded prediction (`yt8m predict`, video-level MoE over {raw['predict']['rows'][0]['videos']} videos in 4 files, one task per file); "
        f"wall time includes starting Python, the ranks or the Dask cluster. The three CSVs are "
        f"{'byte for byte identical' if raw['predict']['identical'] else 'NOT identical'} in every run.\n\n"
        + markdown_table(["mode", "videos", "wall time (s)", "videos/s (wall)", "videos/s (predict's own timer: model loaded; Dask's includes starting the cluster)"], predict_rows)
        + "\n\nObject-store reads: a 64 MiB object through `yt8m.io.paths.open_binary` (fsspec HTTP, Range requests, "
        "background read-ahead of the next block) in 256 KiB reads, from a local server with no added latency and with 20 ms before "
        "each response.\n\n"
        + markdown_table(["added latency", "block", "MB/s", "vs 1 MiB blocks"], read_rows)
        + "\n\n#### Sizing guide (computed from the rows above)\n\n"
        + ("Measured on CPU ranks only (no GPU here): the rows are the setups asked for (1 GPU, 8 GPUs, 4 nodes × 8 GPUs) with "
           "CPU ranks in their place. " if device == "cpu" else "")
        + f"Full dataset: {FULL_VIDEOS / 1e6:.1f} M videos, {FULL_TFRECORD_TB:.2f} TB of frame-level TFRecords; shards (`yt8m convert`) take "
        f"{raw['shard_over_tfrecord']:.2f}× the TFRecord bytes (measured on the benchmark's files), so keeping both needs the disk below. "
        f"Per-rank rate: {frame}, {single:.1f} videos/s on 1 rank and {plus_minus(rate, rate_se, 1)} per rank at {ranks_measured} ranks "
        f"(used for every multi-rank row: it includes the communication measured here, not that of a network between nodes). "
        f"Memory: the peak RSS of a rank above, plus the loader workers. Rates are this machine's {device} ranks: on GPUs, run this "
        "script there and the table recomputes from its rows.\n\n"
        + markdown_table(["setup", "ranks", "videos/s per rank", "hours per epoch", f"hours for {EPOCHS} epochs", "disk (TB): TFRecords + shards", "memory per rank (GB)"], sizing)
        + "\n"
    )


def _cached(name: str, measure):
    """A part's rows from benchmarks/.cache/scale/, measured (and stored) when absent or asked for."""
    path = OUT / f"{name}.json"
    if name in sys.argv[1:] or not path.exists():
        OUT.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_text(json.dumps(measure()))
        tmp.replace(path)
    return json.loads(path.read_text())


def main() -> None:
    data = _cached("data", lambda: make_data(OUT / "data"))
    raw = {"shard_over_tfrecord": data["shard_over_tfrecord"], "cores": os.cpu_count()}
    with tempfile.TemporaryDirectory() as tmp:
        raw["read"] = _cached("read", lambda: read_throughput(Path(tmp)))
        raw["predict"] = _cached("predict", lambda: predict_runs(data, Path(tmp)))
        raw["train"] = _cached("train", lambda: train_throughput(data, Path(tmp)))
    if set(sys.argv[1:]) - {"report"}:  # a part alone: the section waits for `report` (or a full run)
        return
    text = publish(__file__, "scale", "Past one machine: ranks, sharded prediction, object-store reads, sizing (issue 16)", COMMAND, raw)
    print(text)


if __name__ == "__main__":
    main()
