"""Attention pooling must find localized evidence: on the localized probe (each class visible in 2-5
of 60 frames, the frame average carries almost nothing) attention over embedded frames learns where
attention over the raw frames stays near chance (BENCHMARKS.md, "Probe worlds")."""

from __future__ import annotations

import numpy as np
import torch

from yt8m.evaluation.metrics import gap
from yt8m.io import read_records
from yt8m.models import create_model
from yt8m.synth import generate
from yt8m.train.losses import make_loss


def _split(root, split: str, num_classes: int):
    records = list(read_records(sorted((root / "frame").glob(f"{split}*.tfrecord")), "frame", num_classes=num_classes, feature_sizes=(32, 8)))
    frames = torch.from_numpy(np.stack([np.concatenate([r.features["rgb"], r.features["audio"]], axis=1) for r in records]))
    labels = torch.zeros(len(records), num_classes)
    for i, r in enumerate(records):
        labels[i, r.labels] = 1.0
    return frames, labels


def _trained_gap(train, validate, num_classes: int, **options) -> float:
    torch.manual_seed(0)
    model = create_model("attention", num_classes=num_classes, feature_sizes=(32, 8), attention_size=32, **options)
    optimizer, loss_fn = torch.optim.Adam(model.parameters(), lr=0.01), make_loss("cross_entropy")
    x, y = train
    generator = torch.Generator().manual_seed(0)
    for _ in range(12):
        model.train()
        for batch in torch.randperm(len(y), generator=generator).split(64):
            loss = loss_fn(model(x[batch]), y[batch])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    model.eval()
    with torch.no_grad():
        return gap(model(validate[0])["predictions"].numpy(), validate[1].numpy())


def test_attention_over_embedded_frames_reads_localized_evidence_that_raw_frame_attention_misses(tmp_path):
    root = tmp_path / "localized"
    manifest = generate(root, "probe-localized", seed=0, workers=1, progress=False, splits=("train", "validate"),
                        validate_videos=160)
    k = manifest["config"]["num_classes"]
    train, validate = _split(root, "train", k), _split(root, "validate", k)
    embedded = _trained_gap(train, validate, k, embedding_size=128)
    raw = _trained_gap(train, validate, k, embedding_size=0)
    chance = gap(np.random.default_rng(0).random(validate[1].shape), validate[1].numpy())
    assert embedded > 0.6, (embedded, raw, chance)
    assert embedded > raw + 0.2, (embedded, raw, chance)
