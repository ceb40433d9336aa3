"""The cascade (eq. 5) and the MiCRObE inputs (§5.1): windowed frames and video statistics."""

import numpy as np
import pytest
from scipy import sparse

from microbe_toy import calibrated_toy
from yt8m.io import SparseFrames, VideoRecord
from yt8m.microbe.cascade import CascadeModel, feature_thresholds, label_thresholds
from yt8m.microbe.features import FeatureSpace, mining_frames, video_examples, video_statistics, window_average
from yt8m.microbe.maxcal import MaxCalibrationModel
from yt8m.microbe.mining import HardNegativeMiner, mined_labels
from yt8m.microbe.second_order import train_label


@pytest.fixture(scope="module")
def trained():
    ex, table = calibrated_toy()
    miner = HardNegativeMiner(table, 60)
    miner.add(ex)
    mined = mined_labels([miner.result()], table, 60)
    models = {e: train_label(m.X, m.y, m.video_hash & 1, e, m.pair_rows, kind="moe", mixtures=2, restarts=1)
              for e, m in mined.items() if m.positives}
    tau = label_thresholds(mined, 12)
    return ex, table, mined, models, CascadeModel.assemble(table, models, "moe", tau), tau


def test_feature_thresholds_are_equivalent_to_the_max_calibration_test(trained):
    ex, table, _, _, cascade, tau = trained
    maxcal = MaxCalibrationModel(table).predict(ex.X)
    dense = ex.X.toarray()
    passes = np.zeros_like(maxcal, dtype=bool)
    for j in range(len(table)):
        passes[:, table.label[j]] |= (dense[:, table.feature[j]] >= cascade.eta[j]) & (dense[:, table.feature[j]] > 0)
    margin = np.abs(maxcal - tau[None, :]) > 1e-9  # away from the boundary, eq. 5 holds exactly
    assert np.array_equal((maxcal >= tau[None, :])[margin], passes[margin])


def test_fallback_labels_are_scored_by_max_calibration(trained):
    ex, table, _, models, _, tau = trained
    fallback = np.zeros(12, dtype=bool)
    dropped = sorted(models)[:3]
    fallback[dropped] = True
    kept = {e: m for e, m in models.items() if e not in dropped}
    cascade = CascadeModel.assemble(table, kept, "moe", tau, fallback=fallback)
    plain = CascadeModel.assemble(table, kept, "moe", tau).predict(ex.X)
    scores = cascade.predict(ex.X)
    assert np.array_equal(scores[:, dropped], MaxCalibrationModel(table).predict(ex.X)[:, dropped])
    assert np.array_equal(scores[:, ~fallback], plain[:, ~fallback]) and not plain[:, dropped].any()


def test_tau_is_the_lowest_mined_positive_score(trained):
    _, _, mined, _, _, tau = trained
    for e, m in mined.items():
        assert tau[e] == (m.score[m.y > 0].min() if m.positives else np.inf)


def test_cascade_runs_the_label_model_where_a_feature_passes_else_zero(trained):
    ex, table, mined, models, cascade, tau = trained
    scores = cascade.predict(ex.X)
    maxcal = MaxCalibrationModel(table).predict(ex.X)
    for e, model in models.items():
        X_e = ex.X[:, table.feature[model.pair_rows]]
        direct = model.predict(X_e)
        clear = np.abs(maxcal[:, e] - tau[e]) > 1e-9  # rows on the threshold itself may round either way
        on = maxcal[:, e] >= tau[e]
        assert np.allclose(scores[on & clear, e], direct[on & clear], atol=1e-9)
        assert np.all(scores[~on & clear, e] == 0)
    videos = cascade.predict_videos(ex.X, ex.video, int(ex.video.max()) + 1)
    assert np.allclose(videos[0], scores[ex.video == 0].max(axis=0))


def test_every_mined_positive_passes_the_cascade(trained):
    ex, table, mined, models, cascade, tau = trained
    scores = cascade.predict(ex.X)
    row = {int(u): i for i, u in enumerate(ex.uid)}
    for e, m in mined.items():
        if e in models:
            rows = [row[int(u)] for u in m.uid[m.y > 0]]
            assert np.all(scores[rows, e] > 0)


def test_eta_inverts_the_curve(trained):
    _, table, _, _, cascade, tau = trained
    finite = np.isfinite(cascade.eta) & (cascade.eta > 0)
    assert np.allclose(table.curve(np.flatnonzero(finite), cascade.eta[finite]), tau[table.label[finite]], rtol=1e-9)
    assert np.array_equal(feature_thresholds(table, tau), cascade.eta)


def test_window_average_by_hand():
    frames = sparse.csr_matrix(np.array([[1.0, 0], [0, 0], [0, 3.0], [0, 0]]))
    out = window_average(frames, 1).toarray()
    assert np.allclose(out, [[0.5, 0], [1 / 3, 1.0], [0, 1.0], [0, 1.5]])


def test_video_statistics_mean_and_top_k():
    space = FeatureSpace(("tm",), (2,), "video")
    frames = sparse.csr_matrix(np.array([[0.9, 0], [0.5, 0.2], [0.7, 0], [0.1, 0], [0.3, 0], [0.6, 0]]))
    stats = video_statistics(frames, space).toarray().ravel()
    assert np.allclose(stats[:6], [3.1 / 6, 0.9, 0.7, 0.6, 0.5, 0.3])  # TM:0:Mean, TM:0:1 … TM:0:5
    assert np.allclose(stats[6:], [0.2 / 6, 0.2, 0, 0, 0, 0])
    assert space.feature_name(2, {"tm": ["Soccer", "Tennis"]}) == "TM:Soccer:2"
    assert space.feature_name(6, {"tm": ["Soccer", "Tennis"]}) == "TM:Tennis:Mean"


def test_video_examples_from_a_record():
    rec = VideoRecord("abc", np.array([4, 1]), {})
    rec.sparse["im"] = SparseFrames.from_lists([[0], [1, 2], []], [[0.5], [0.2, 0.4], []])
    rec.sparse["tm"] = SparseFrames.from_lists([[3], [], [0]], [[0.9], [], [0.1]])
    space = FeatureSpace(("im", "tm"), (3, 4), "frame", window=0)
    ex = video_examples(rec, space, key=5)
    assert ex.X.shape == (3, 7) and np.allclose(ex.X.toarray()[0], [0.5, 0, 0, 0, 0, 0, 0.9])
    assert ex.labels(2).tolist() == [1, 4] and (ex.uid >> 16).tolist() == [5, 5, 5]
    mined = video_examples(rec, space, key=5, frames="mining", mining_count=2, seed=1)
    assert len(mined) == 2 and np.array_equal(mined.uid & 0xFFFF, mining_frames(3, 2, ex.video_hash[0], 1))
    assert len(video_examples(rec, FeatureSpace(("im", "tm"), (3, 4), "video"), key=0)) == 1
