"""Shipped configs learn on data that is not our synthetic world (the fast part of
benchmarks/bench_config_learning.py, which runs every config over 3 seeds).

The configs here are the cheap ones on 2 CPU cores; each trains through the real trainer with only
the data shape, batch size, epochs and learning rate changed, and must beat the better of chance
and the constant predictor on held-out videos by the benchmark's margin.
"""

from __future__ import annotations

import pytest

from benchmarks.bench_config_learning import MARGIN, baselines, label_matrix, run_config
from benchmarks.sequence_world import SequenceWorld, write_world

FAST_CONFIGS = ["frame_frame_logistic", "frame_attention", "video_logistic", "video_moe", "video_moe_mean_std_top5"]


@pytest.fixture(scope="module")
def world_data(tmp_path_factory):
    world = SequenceWorld()
    data = write_world(tmp_path_factory.mktemp("sequences"), world, train=200, validate=100, seed=0)
    return world, data, baselines(label_matrix(data["video/train"], world), label_matrix(data["video/validate"], world), seed=0)


@pytest.mark.parametrize("name", FAST_CONFIGS)
def test_shipped_config_learns_on_unfamiliar_sequences(name, world_data, tmp_path):
    world, data, base = world_data
    result = run_config(name, data, world, tmp_path / "run", epochs=4, batch_size=32, seed=0)
    floor = max(base["chance_gap"], base["constant_gap"])
    assert result["gap"] > floor + MARGIN, f"{name}: GAP {result['gap']:.3f}, chance/constant {floor:.3f}"
