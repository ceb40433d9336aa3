"""Reading from an object store through fsspec, against a local HTTP server with Range requests."""

import numpy as np
import pytest

from helpers import frame_records
from range_server import RangeServer
from yt8m.data import DataConfig, VideoDataset
from yt8m.data.loader import loader_for
from yt8m.io import read_records, records_equal, write_records
from yt8m.io import paths as io_paths

pytest.importorskip("aiohttp")  # fsspec's HTTP file system


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    d = tmp_path_factory.mktemp("bucket")
    records = frame_records(40, num_classes=20, min_frames=60, max_frames=120)  # ~4.5 MB per file
    write_records(d / "a.tfrecord", records[:20], "frame")
    write_records(d / "b.arrow", records[20:], "frame", format="shard")
    return d, records


@pytest.mark.parametrize("name, part", [("a.tfrecord", slice(0, 20)), ("b.arrow", slice(20, 40))])
def test_records_read_over_http_in_large_sequential_blocks(store, name, part):
    d, records = store
    size = (d / name).stat().st_size
    block = 1 << 20
    server = RangeServer(d)
    with server as url:
        with io_paths.open_binary(f"{url}/{name}", block_size=block) as f:
            assert b"".join(iter(lambda: f.read(64 << 10), b"")) == (d / name).read_bytes()  # small reads, as parsers do
        whole_file_requests = list(server.requests)
        server.requests.clear()
        got = list(read_records(f"{url}/{name}", "frame"))
    assert len(got) == 20 and all(records_equal(a, b) for a, b in zip(got, records[part]))
    # one request per block, each a full block (but the file's last), in order
    blocks = [(start, length) for _, start, length in whole_file_requests]
    assert blocks == [(start, min(block, size - start)) for start in range(0, size, block)]
    # the readers' own reads (8 MiB blocks by default; sniffing the format opens the file apart):
    # a few whole-block requests, never one per record
    assert 1 <= len(server.requests) <= 3 * (1 + size // io_paths.BLOCK_SIZE)
    assert all(length == min(io_paths.BLOCK_SIZE, size - start) for _, start, length in server.requests)


def test_training_loader_over_http_equals_the_local_one(store):
    """Two loader workers, each with its own read-ahead, give the batches of the local files."""
    d, _ = store
    config = DataConfig(num_classes=20, batch_size=6, shuffle_buffer=8, num_workers=2)

    def batches(paths):
        dataset = VideoDataset(paths, config, training=True, seed=1)
        return [(b["ids"], b["features"].numpy()) for b in loader_for(dataset)]

    with RangeServer(d) as url:
        remote = batches([f"{url}/a.tfrecord", f"{url}/b.arrow"])
    local = batches([str(d / "a.tfrecord"), str(d / "b.arrow")])
    assert [ids for ids, _ in remote] == [ids for ids, _ in local] and len(local) == 40 // 6
    assert all(np.array_equal(r, l) for (_, r), (_, l) in zip(remote, local))


def test_sniffing_a_header_costs_one_block_and_streaming_reads_ahead(store):
    d, _ = store
    block = 1 << 20
    server = RangeServer(d)
    with server as url:
        with io_paths.open_binary(f"{url}/a.tfrecord", block_size=block) as f:
            assert f.read(16) == (d / "a.tfrecord").read_bytes()[:16]
        sniffed = list(server.requests)
        server.requests.clear()
        with io_paths.open_binary(f"{url}/a.tfrecord", block_size=block) as f:
            f.read(16)
            f.seek(block + 10)
            f.read(16)  # into block 1: block 2 is fetched ahead, before anyone asks for it
            deadline = __import__("time").monotonic() + 10
            while len(server.requests) < 3 and __import__("time").monotonic() < deadline:
                __import__("time").sleep(0.01)
    assert [(start, length) for _, start, length in sniffed] == [(0, block)]
    assert [start for _, start, _ in server.requests] == [0, block, 2 * block]
