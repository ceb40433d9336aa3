"""Past one machine, training: N ranks equal one rank, equal work per rank, a killed rank resumes exactly.

Ranks are CPU processes talking over gloo, started by torch.multiprocessing or torchrun (standalone
and as two c10d "nodes" on localhost, the multi-node recipe of the README).
"""

import json
import os
import socket
import subprocess
import sys
import time
from collections import Counter

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from helpers import frame_records, video_records
from yt8m.data import DataConfig, VideoDataset
from yt8m.io import write_records
from yt8m.train.config import load_config
from yt8m.train.trainer import train

# SGD: the gradients agree to float rounding (~1e-8); Adam divides near-zero gradients by their own
# scale and turns that rounding into ~1e-4 after a few steps, which would hide a real difference.
VIDEO_ARGS = ["model.name=moe", "data.kind=video", "data.num_classes=30", "data.shuffle_buffer=16", "train.epochs=2",
              "train.tensorboard=false", "train.checkpoint_every=0", "optimizer.name=sgd", "optimizer.lr=0.5"]


@pytest.fixture(scope="module")
def video_files(tmp_path_factory):
    d = tmp_path_factory.mktemp("video")
    records = video_records(75, num_classes=30)
    write_records(d / "a.tfrecord", records[:61], "video")  # uneven files: 61 and 14 videos
    write_records(d / "b.arrow", records[61:], "video", format="shard")
    return d


def _weights(run):
    return load_file(str(run / "checkpoints" / (run / "checkpoints" / "latest").read_text() / "model.safetensors"))


def _rank_train(rank: int, data: str, out: str, address: str, args: list) -> None:
    import torch.distributed as dist

    os.environ["WORLD_SIZE"] = "2"
    dist.init_process_group("gloo", init_method=address, rank=rank, world_size=2)
    try:
        train(load_config(None, args), data, out, progress=False)
    finally:
        dist.destroy_process_group()


def test_two_ranks_and_accumulation_equal_one_rank_at_double_batch(video_files, tmp_path):
    import torch.multiprocessing as mp

    data = str(video_files / "*")
    one = train(load_config(None, [*VIDEO_ARGS, "optimizer.batch_size=16"]), data, tmp_path / "one", progress=False)
    accumulated = train(load_config(None, [*VIDEO_ARGS, "optimizer.batch_size=8", "optimizer.accumulate=2"]), data, tmp_path / "acc", progress=False)
    mp.start_processes(_rank_train, args=(data, str(tmp_path / "two"), f"file://{tmp_path}/rendezvous", [*VIDEO_ARGS, "optimizer.batch_size=8"]),
                       nprocs=2, start_method="spawn")
    summary = json.loads((tmp_path / "two" / "train_summary.json").read_text())
    assert one.steps == accumulated.steps == summary["steps"] == 2 * (75 // 16)
    assert one.examples == accumulated.examples == summary["examples"]
    reference = _weights(tmp_path / "one")
    for run in ("acc", "two"):
        weights = _weights(tmp_path / run)
        assert weights.keys() == reference.keys()
        for key in reference:
            torch.testing.assert_close(weights[key], reference[key], rtol=1e-5, atol=1e-6, msg=f"{run}: {key}")


def test_the_data_order_is_one_global_order_whatever_ranks_workers_and_position(video_files):
    """Rank r's micro-batch k is its slice of the one-rank batch; workers and resume positions change nothing."""
    data = str(video_files / "*")

    def batches(batch_size, rank=0, world_size=1, workers=0, accumulate=1, epoch=1, start=0):
        config = DataConfig(kind="video", num_classes=30, batch_size=batch_size, shuffle_buffer=16, num_workers=workers)
        dataset = VideoDataset(data, config, training=True, seed=5, rank=rank, world_size=world_size, accumulate=accumulate)
        dataset.set_position(epoch, start)
        from yt8m.data.loader import loader_for

        return [list(b["ids"]) for b in loader_for(dataset)]

    one = batches(16)
    ranks = [batches(8, rank=r, world_size=2) for r in range(2)]
    assert [a + b for a, b in zip(*ranks)] == one
    micro = batches(8, accumulate=2)
    assert [micro[i] + micro[i + 1] for i in range(0, len(micro), 2)] == one
    assert batches(8, rank=1, world_size=2, workers=2) == ranks[1]
    assert batches(8, rank=1, world_size=2, workers=2, start=2) == ranks[1][2:]
    assert batches(16, epoch=2) != one


@pytest.mark.parametrize("sizes", [(3, 40, 1, 1, 1, 2, 9), (40, 1, 2, 1, 1)])
def test_every_rank_gets_as_many_batches_and_every_record_is_used_once(tmp_path, sizes):
    """3 ranks x 2 workers over uneven files: equal batch counts (no rank waits at the epoch end),
    no record twice, and fewer than one global batch left out."""
    records = frame_records(sum(sizes), num_classes=20, sizes=(16, 8))
    first = 0
    for i, size in enumerate(sizes):
        write_records(tmp_path / f"f{i}.tfrecord", records[first : first + size], "frame", feature_sizes=(16, 8))
        first += size
    config = DataConfig(num_classes=20, feature_sizes=(16, 8), batch_size=3, num_workers=2, shuffle_buffer=8)
    from yt8m.data.loader import loader_for

    per_rank = []
    for rank in range(3):
        dataset = VideoDataset(str(tmp_path / "*.tfrecord"), config, training=True, seed=2, rank=rank, world_size=3)
        per_rank.append([b["ids"] for b in loader_for(dataset)])
        assert len(per_rank[-1]) == dataset.batches_per_epoch()
    assert len({len(batches) for batches in per_rank}) == 1
    seen = Counter(i for batches in per_rank for b in batches for i in b)
    assert set(seen.values()) == {1} and len(records) - len(seen) < 9


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


FRAME_ARGS = [
    "model.name=lstm", "model.hidden_size=8", "model.num_layers=2", "model.dropout=0.5", "model.classifier=logistic",
    "data.kind=frame", "data.num_classes=12", "data.feature_sizes=[16, 8]", "data.max_frames=40", "data.shuffle_buffer=16",
    "optimizer.batch_size=4", "train.epochs=12", "train.checkpoint_every=5", "train.keep_checkpoints=2", "train.tensorboard=false",
]


def _torchrun(*launch, data, out):
    command = [sys.executable, "-m", "torch.distributed.run", *launch, "-m", "yt8m", "train", "--train-data", data, "--out", str(out)]
    for arg in FRAME_ARGS:
        command += ["--set", arg]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "GLOO_SOCKET_IFNAME": "lo"}  # both "nodes" on the loopback interface
    return subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def test_a_killed_rank_restarts_and_the_run_ends_as_the_uninterrupted_one(tmp_path):
    """Reference: two c10d "nodes" on localhost. Then the same run under torchrun --max-restarts 1
    with rank 1 killed mid-run: the group restarts, resumes from the newest checkpoint with each
    rank's own random states (dropout draws per frame, and ranks see different frame counts), and
    ends with the same weights, bit for bit."""
    import psutil

    write_records(tmp_path / "train.tfrecord", frame_records(40, num_classes=12, sizes=(16, 8), max_frames=30), "frame", feature_sizes=(16, 8))
    data = str(tmp_path / "train.tfrecord")
    endpoint = f"127.0.0.1:{_free_port()}"
    nodes = [_torchrun("--nnodes", "2", "--nproc_per_node", "1", "--rdzv_backend", "c10d", "--rdzv_endpoint", endpoint,
                       "--rdzv_id", "yt8m-test", data=data, out=tmp_path / "reference") for _ in range(2)]
    outputs = [node.communicate(timeout=300)[0] for node in nodes]
    assert all(node.returncode == 0 for node in nodes), outputs[0][-3000:] + outputs[1][-3000:]

    launcher = _torchrun("--nnodes", "1", "--nproc_per_node", "2", "--max-restarts", "1", "--rdzv_backend", "c10d", "--rdzv_endpoint", f"127.0.0.1:{_free_port()}",
                         data=data, out=tmp_path / "killed")
    try:
        deadline = time.monotonic() + 120
        while not (tmp_path / "killed" / "checkpoints" / "latest").exists() and time.monotonic() < deadline and launcher.poll() is None:
            time.sleep(0.01)
        ranks = {int(p.environ().get("RANK", -1)): p for p in psutil.Process(launcher.pid).children(recursive=True) if "RANK" in p.environ()}
        assert launcher.poll() is None and 1 in ranks, "the run ended before a rank could be killed"
        ranks[1].kill()
        output = launcher.communicate(timeout=300)[0]
    finally:
        if launcher.poll() is None:
            launcher.kill()
    assert launcher.returncode == 0, output[-3000:]
    killed, reference = _weights(tmp_path / "killed"), _weights(tmp_path / "reference")
    summary = json.loads((tmp_path / "killed" / "train_summary.json").read_text())
    assert summary["steps"] == json.loads((tmp_path / "reference" / "train_summary.json").read_text())["steps"] == 12 * (40 // 8)
    assert killed.keys() == reference.keys() and all(torch.equal(killed[k], reference[k]) for k in reference)
    steps = [int(line.split(",")[0]) for line in (tmp_path / "killed" / "train_log.csv").read_text().splitlines()[1:]]
    assert steps == sorted(set(steps))
