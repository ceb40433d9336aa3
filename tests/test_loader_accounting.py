"""Issue 9: the loader's read accounting reaches the caller across workers and ranks, and train,
eval and predict show it."""

import json

import pytest
from typer.testing import CliRunner

from helpers import frame_records, video_records
from yt8m.cli import app
from yt8m.data import DataConfig, make_loader
from yt8m.io import ReadStats, iter_tfrecord, write_records
from yt8m.train.config import load_config
from yt8m.train.trainer import train


def _corrupt_payloads(path, indices):
    offsets = [o for _, o, _ in iter_tfrecord(str(path))]
    data = bytearray(path.read_bytes())
    for i in indices:
        data[offsets[i] + 25] ^= 1
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("training", [False, True])
def test_counts_from_2_workers_x_2_ranks_reach_the_caller(tmp_path, training):
    records = frame_records(40, num_classes=20)
    write_records(tmp_path / "a.tfrecord", records[:25], "frame")
    write_records(tmp_path / "b.tfrecord", records[25:], "frame")
    _corrupt_payloads(tmp_path / "a.tfrecord", [3, 17])
    _corrupt_payloads(tmp_path / "b.tfrecord", [8])
    config = DataConfig(num_classes=20, batch_size=4, num_workers=2, skip_corrupt=True)
    total, ids = ReadStats(), []
    for rank in range(2):
        loader = make_loader(str(tmp_path / "*.tfrecord"), config, training=training, seed=1, rank=rank, world_size=2)
        ids += [i for batch in loader for i in batch["ids"]]
        total.merge(loader.read_stats)
    # evaluation reads every intact record; training uses full global batches of 2 ranks x 4: all 40 positions here
    assert total.records == len(ids) == 37
    assert sorted((s.path.rsplit("/", 1)[1], s.index) for s in total.skipped) == [("a.tfrecord", 3), ("a.tfrecord", 17), ("b.tfrecord", 8)]
    assert total.by_reason() == {"data_crc": 3}


def test_a_worker_that_reads_nothing_still_reports_its_skips(tmp_path):
    write_records(tmp_path / "a.tfrecord", frame_records(6, num_classes=20), "frame")
    write_records(tmp_path / "b.tfrecord", frame_records(2, num_classes=20, seed=5), "frame")
    _corrupt_payloads(tmp_path / "b.tfrecord", [0, 1])
    config = DataConfig(num_classes=20, batch_size=3, num_workers=2, skip_corrupt=True)
    loader = make_loader(str(tmp_path / "*.tfrecord"), config)
    assert sum(len(b["ids"]) for b in loader) == 6
    assert loader.read_stats.records == 6 and len(loader.read_stats.skipped) == 2


def test_train_eval_predict_show_the_counts(tmp_path):
    records = video_records(60, num_classes=10)
    write_records(tmp_path / "train.tfrecord", records[:40], "video")
    write_records(tmp_path / "val.tfrecord", records[40:], "video")
    _corrupt_payloads(tmp_path / "train.tfrecord", [4])
    _corrupt_payloads(tmp_path / "val.tfrecord", [2, 9])
    config = load_config(None, ["model.name=logistic", "data.kind=video", "data.num_classes=10", "data.skip_corrupt=true", "optimizer.batch_size=13", "train.epochs=1", "train.tensorboard=false"])
    result = train(config, str(tmp_path / "train.tfrecord"), tmp_path / "run", progress=False)
    summary = json.loads((result.run_dir / "train_summary.json").read_text())
    # one global batch of 13 is 3 steps: positions 0-38 are read (record 4 among them is skipped), record 39 is not
    assert summary["read"]["records"] == 38 and summary["read"]["skipped"] == 1 and summary["read"]["by_reason"] == {"data_crc": 1}
    runner = CliRunner()
    out = runner.invoke(app, ["eval", str(result.run_dir), "--data", str(tmp_path / "val.tfrecord"), "--out", str(tmp_path / "eval")])
    assert out.exit_code == 0, out.output
    metrics = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    assert metrics["read"]["records"] == 18 and metrics["read"]["skipped"] == 2
    assert "18 records read, 2 skipped (data_crc: 2)" in out.output
    out = runner.invoke(app, ["predict", str(result.run_dir), "--data", str(tmp_path / "val.tfrecord"), "--out", str(tmp_path / "p.csv")])
    assert out.exit_code == 0, out.output
    assert "18 records read, 2 skipped (data_crc: 2)" in out.output


def _rank_total(rank: int, files: str, address: str, out: str) -> None:
    import torch.distributed as dist

    from yt8m.data.loader import gather_read_stats

    dist.init_process_group("gloo", init_method=address, rank=rank, world_size=2)
    try:
        loader = make_loader(files, DataConfig(num_classes=20, batch_size=4, skip_corrupt=True))  # rank from torch.distributed
        for _ in loader:
            pass
        total = gather_read_stats(loader.read_stats)
        if rank == 0:
            with open(out, "w") as f:
                json.dump(total.as_dict(), f)
    finally:
        dist.destroy_process_group()


def test_gather_read_stats_sums_over_ranks(tmp_path):
    import torch.multiprocessing as mp

    write_records(tmp_path / "a.tfrecord", frame_records(12, num_classes=20), "frame")
    _corrupt_payloads(tmp_path / "a.tfrecord", [1, 6])
    out = tmp_path / "total.json"
    mp.start_processes(_rank_total, args=(str(tmp_path / "a.tfrecord"), f"file://{tmp_path}/rendezvous", str(out)), nprocs=2, start_method="spawn")
    total = json.loads(out.read_text())
    assert (total["records"], total["skipped"], total["by_reason"]) == (10, 2, {"data_crc": 2})
