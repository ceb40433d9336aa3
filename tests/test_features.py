"""Video-level features: [mean; std; Top_K] aggregation and PCA whitening (YouTube-8M paper §4.2)."""

from __future__ import annotations

import dataclasses
import io

import numpy as np
import pytest
import torch

from yt8m.features import (
    FrameAggregation,
    PCAWhitening,
    VideoFeatureConfig,
    VideoFeatureTransform,
    Whitening,
    aggregate_frames,
    aggregate_frames_torch,
    aggregated_dim,
)
from yt8m.io.quantization import dequantize


def naive_aggregate(codes: np.ndarray, num_frames: np.ndarray, top_k: int) -> np.ndarray:
    """One video and one dimension at a time, straight from eq. 2 and the documented edge cases."""
    rows = []
    for video, n in zip(codes, num_frames):
        frames = dequantize(video[:n]).astype(np.float64)
        dims = video.shape[1]
        mean = frames.mean(0) if n else np.zeros(dims)
        std = frames.std(0) if n else np.zeros(dims)
        top = []
        for j in range(dims):
            ranked = sorted(frames[:, j], reverse=True)
            top += [ranked[min(p, n - 1)] if n else 0.0 for p in range(top_k)]
        rows.append(np.concatenate([mean, std, top]))
    return np.array(rows)


@pytest.fixture
def frames():
    rng = np.random.default_rng(7)
    codes = rng.integers(0, 256, size=(6, 12, 5), dtype=np.uint8)
    num_frames = np.array([12, 7, 3, 1, 0, 5])  # full, partial, shorter than K, single, empty, == K
    return codes, num_frames


def test_numpy_aggregation_matches_naive_reference(frames):
    codes, num_frames = frames
    got = aggregate_frames(codes, num_frames, top_k=5)
    assert got.shape == (6, aggregated_dim(5, "mean_std_topk", 5)) == (6, 35)
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, naive_aggregate(codes, num_frames, 5), rtol=1e-6, atol=1e-6)


def test_short_videos_repeat_their_smallest_value_and_empty_videos_are_zero(frames):
    codes, num_frames = frames
    top = aggregate_frames(codes, num_frames, top_k=5)[:, 10:].reshape(6, 5, 5)  # [video, dim, rank]
    three = np.sort(dequantize(codes[2, :3]), axis=0)[::-1]  # [3, dims] descending
    np.testing.assert_allclose(top[2], np.concatenate([three, three[-1:], three[-1:]]).T, rtol=1e-6)
    np.testing.assert_allclose(top[3], np.repeat(dequantize(codes[3, :1]).T, 5, axis=1), rtol=1e-6)
    assert not aggregate_frames(codes, num_frames)[4].any()


def test_padding_content_never_counts(frames):
    codes, num_frames = frames
    garbage = codes.copy()
    for video, n in enumerate(num_frames):
        garbage[video, n:] = 255
    np.testing.assert_array_equal(aggregate_frames(garbage, num_frames), aggregate_frames(codes, num_frames))
    floats = dequantize(torch.from_numpy(codes))
    for video, n in enumerate(num_frames):
        floats[video, n:] = float("nan")
    torch.testing.assert_close(
        aggregate_frames_torch(floats, torch.from_numpy(num_frames)), FrameAggregation()(torch.from_numpy(codes), torch.from_numpy(num_frames))
    )


@pytest.mark.parametrize("statistics,top_k", [("mean_std_topk", 5), ("mean_std_topk", 20), ("mean_std", 5), ("mean", 5)])
def test_torch_aggregation_matches_numpy(frames, statistics, top_k):
    codes, num_frames = frames
    expected = aggregate_frames(codes, num_frames, statistics=statistics, top_k=top_k)
    got = FrameAggregation(statistics, top_k)(torch.from_numpy(codes), torch.from_numpy(num_frames))
    assert got.shape == expected.shape == (6, aggregated_dim(5, statistics, top_k))
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-5, atol=1e-5)
    floats = aggregate_frames_torch(dequantize(torch.from_numpy(codes)), torch.from_numpy(num_frames), statistics=statistics, top_k=top_k)
    np.testing.assert_allclose(floats.numpy(), expected, rtol=1e-5, atol=1e-5)


def test_torch_top_k_on_codes_handles_ties_with_padding_zeros():
    codes = np.random.default_rng(9).integers(0, 2, size=(5, 8, 3), dtype=np.uint8)  # many valid zero codes
    codes[:, 6:] = 200  # padding content must not matter
    num_frames = np.array([6, 2, 1, 0, 4])
    got = aggregate_frames_torch(torch.from_numpy(codes), torch.from_numpy(num_frames), top_k=5)
    np.testing.assert_allclose(got.numpy(), naive_aggregate(codes, num_frames, 5), rtol=1e-6, atol=1e-6)


def test_aggregation_rejects_bad_shapes_and_names():
    with pytest.raises(ValueError, match=r"frames must be \[batch, frames, dims\]"):
        aggregate_frames(np.zeros((4, 5), np.uint8))
    with pytest.raises(ValueError, match=r"num_frames must be \[batch\] = \[2\]"):
        aggregate_frames_torch(torch.zeros(2, 3, 4), torch.ones(3))
    with pytest.raises(ValueError, match="unknown aggregate 'median'"):
        aggregate_frames(np.zeros((1, 2, 3)), statistics="median")


def correlated(rng, n, dims=6):
    mixing = rng.normal(size=(dims, dims)) * np.linspace(0.1, 3.0, dims)
    return rng.normal(size=(n, dims)) @ mixing + rng.normal(size=dims) * 5


def test_whitened_train_features_have_zero_mean_and_identity_covariance():
    x = correlated(np.random.default_rng(0), 3000)
    z = PCAWhitening(epsilon=0.0, l2_normalize=False).fit_transform(x)
    np.testing.assert_allclose(z.mean(0), 0.0, atol=1e-10)
    np.testing.assert_allclose(np.cov(z, rowvar=False, bias=True), np.eye(6), atol=1e-8)


def test_whitening_components_sorted_and_l2_step_gives_unit_vectors():
    x = correlated(np.random.default_rng(1), 500)
    pca = PCAWhitening(n_components=3).fit(x)
    assert pca.components_.shape == (3, 6) and pca.n_samples_seen_ == 500
    assert np.all(np.diff(pca.explained_variance_) <= 0)
    np.testing.assert_allclose(pca.explained_variance_, np.linalg.eigvalsh(np.cov(x, rowvar=False, bias=True))[::-1][:3], rtol=1e-8)
    np.testing.assert_allclose(np.linalg.norm(pca.transform(x), axis=1), 1.0, rtol=1e-12)


def test_streaming_fit_equals_one_shot_fit():
    x = correlated(np.random.default_rng(2), 1000)
    one_shot = PCAWhitening().fit(x)
    streamed = PCAWhitening().fit(iter([x[:1], x[1:300], x[300:301], x[301:]]))
    incremental = PCAWhitening()
    for batch in (x[:400], x[400:]):
        incremental.partial_fit(batch)
    for other in (streamed, incremental):
        assert other.n_samples_seen_ == 1000
        np.testing.assert_allclose(other.mean_, one_shot.mean_, rtol=1e-12)
        np.testing.assert_allclose(other.covariance_, one_shot.covariance_, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(other.transform(x), one_shot.transform(x), rtol=1e-8, atol=1e-10)


def test_torch_whitening_equals_numpy_transform():
    rng = np.random.default_rng(3)
    x = correlated(rng, 800)
    for l2 in (True, False):
        pca = PCAWhitening(n_components=4, l2_normalize=l2).fit(x)
        module = Whitening(6, 4, l2_normalize=l2).load_estimator(pca)
        np.testing.assert_allclose(module(torch.from_numpy(x)).numpy(), pca.transform(x), rtol=1e-4, atol=1e-5)


def test_whitening_errors_say_what_was_expected():
    pca = PCAWhitening().fit(np.random.default_rng(4).normal(size=(50, 3)))
    with pytest.raises(ValueError, match="fitted on 3 features, got 4"):
        pca.transform(np.zeros((2, 4)))
    with pytest.raises(ValueError, match="NaN or infinite"):
        PCAWhitening().fit(np.array([[0.0, np.nan]]))
    with pytest.raises(RuntimeError, match="not fitted"):
        Whitening(3)(torch.zeros(1, 3))
    with pytest.raises(ValueError, match=r"fitted whitening is \(3, 3\), this module holds \(3, 2\)"):
        Whitening(3, 2).load_estimator(pca)


def frame_batches(rng, videos, batch=16, frames=10, dims=4):
    for start in range(0, videos, batch):
        size = min(batch, videos - start)
        yield torch.from_numpy(rng.integers(0, 256, size=(size, frames, dims), dtype=np.uint8)), torch.from_numpy(
            rng.integers(1, frames + 1, size=size)
        )


def test_feature_transform_fits_on_batches_and_round_trips_through_state_dict():
    config = VideoFeatureConfig(aggregate="mean_std_topk", top_k=3, n_components=12)
    transform = VideoFeatureTransform(config, (3, 1))
    assert transform.requires_fitting and transform.expects_frames and transform.output_dim == 12
    transform.fit(frame_batches(np.random.default_rng(5), 100))
    assert not transform.requires_fitting
    codes, num_frames = next(frame_batches(np.random.default_rng(6), 8))
    out = transform(codes, num_frames)
    assert out.shape == (8, 12)
    torch.testing.assert_close(out.norm(dim=1), torch.ones(8))

    buffer = io.BytesIO()
    torch.save(transform.state_dict(), buffer)
    buffer.seek(0)
    rebuilt = VideoFeatureTransform(VideoFeatureConfig.from_options(dataclasses.asdict(config)), (3, 1))
    rebuilt.load_state_dict(torch.load(buffer))
    assert not rebuilt.requires_fitting
    torch.testing.assert_close(rebuilt(codes, num_frames), out)


def test_feature_transform_fit_matches_numpy_pipeline_and_respects_fit_max_videos():
    config = VideoFeatureConfig(top_k=2, epsilon=1e-3, fit_max_videos=40)
    batches = list(frame_batches(np.random.default_rng(8), 100))
    transform = VideoFeatureTransform(config, (4,)).fit(iter(batches))
    codes = np.concatenate([c.numpy() for c, _ in batches])[:40]
    lengths = np.concatenate([n.numpy() for _, n in batches])[:40]
    pca = PCAWhitening(epsilon=1e-3).fit(aggregate_frames(codes, lengths, top_k=2))
    got = transform(torch.from_numpy(codes), torch.from_numpy(lengths)).numpy()
    np.testing.assert_allclose(got, pca.transform(aggregate_frames(codes, lengths, top_k=2)), rtol=1e-3, atol=1e-4)


def test_feature_config_rejects_unknown_keys_and_layouts():
    with pytest.raises(ValueError, match="no option.*'topk'"):
        VideoFeatureConfig.from_options({"topk": 5})
    transform = VideoFeatureTransform(VideoFeatureConfig(aggregate="none", whiten=False), (4,))
    assert not transform.expects_frames and transform.output_dim == 4
    torch.testing.assert_close(transform(torch.tensor([[3.0, 0.0, 4.0, 0.0]])), torch.tensor([[0.6, 0.0, 0.8, 0.0]]))
    with pytest.raises(ValueError, match=r"expects video vectors \[batch, dims\]"):
        transform(torch.zeros(1, 2, 4))
