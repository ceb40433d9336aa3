"""Video-level models: logistic, hinge, mixture of experts (YouTube-8M paper §4.3), with and without features."""

from __future__ import annotations

import dataclasses
import io

import numpy as np
import pytest
import torch

from yt8m.features import PCAWhitening, aggregate_frames
from yt8m.models import create_model, model_entry
from yt8m.models.base import l2_normalize
from yt8m.train.losses import make_loss

SIZES = (6, 2)
CLASSES = 4


def video_batch(batch=5, seed=0):
    return torch.from_numpy(np.random.default_rng(seed).normal(size=(batch, sum(SIZES))).astype(np.float32))


def frame_batch(batch=5, frames=9, seed=0):
    rng = np.random.default_rng(seed)
    codes = torch.from_numpy(rng.integers(0, 256, size=(batch, frames, sum(SIZES)), dtype=np.uint8))
    return codes, torch.from_numpy(rng.integers(1, frames + 1, size=batch))


@pytest.mark.parametrize("name", ["logistic", "hinge", "moe"])
def test_video_level_forward_shapes_and_ranges(name):
    assert model_entry(name).frame_level is False
    model = create_model(name, num_classes=CLASSES, feature_sizes=SIZES)
    out = model(video_batch())
    p = out["predictions"]
    assert p.shape == (5, CLASSES) and p.dtype == torch.float32
    assert torch.all((p > 0) & (p < 1))
    assert not model.expects_frames and not model.requires_fitting


def test_logistic_is_sigmoid_of_l2_normalized_linear_scores():
    model = create_model("logistic", num_classes=CLASSES, feature_sizes=SIZES)
    x = video_batch()
    out = model(x)
    logits = l2_normalize(x) @ model.head.fc.weight.T + model.head.fc.bias
    torch.testing.assert_close(out["logits"], logits)
    torch.testing.assert_close(out["predictions"], torch.sigmoid(logits))


def test_hinge_reports_raw_scores_and_rank_preserving_predictions():
    model = create_model("hinge", num_classes=CLASSES, feature_sizes=SIZES)
    with torch.no_grad():
        model.fc.weight.mul_(5)  # margins outside [-1, 1] (σ saturates in float32 only beyond |s| ≈ 17)
    out = model(video_batch(batch=64))
    assert out["scores"].abs().max() > 1
    torch.testing.assert_close(out["predictions"], torch.sigmoid(out["scores"]))
    flat_scores, flat_predictions = out["scores"].flatten(), out["predictions"].flatten()
    assert torch.equal(flat_scores.argsort(), flat_predictions.argsort())  # global order kept (GAP, mAP)


def test_moe_mixes_experts_with_a_dummy_state():
    model = create_model("moe", num_classes=CLASSES, feature_sizes=SIZES, num_mixtures=3)
    x = video_batch()
    gates = torch.softmax((l2_normalize(x) @ model.head.gates.weight.T).view(5, CLASSES, 4), dim=-1)
    experts = torch.sigmoid((l2_normalize(x) @ model.head.experts.weight.T + model.head.experts.bias).view(5, CLASSES, 3))
    expected = (gates[..., :3] * experts).sum(-1)
    torch.testing.assert_close(model(x)["predictions"], expected)
    assert torch.all(model(x)["predictions"] < 1 - gates[..., 3] + 1e-6)  # the dummy's mass is never "present"


def test_l2_penalty_is_half_l2_times_squared_weights_without_biases():
    logistic = create_model("logistic", num_classes=CLASSES, feature_sizes=SIZES, l2=0.5)
    expected = 0.5 * 0.5 * logistic.head.fc.weight.pow(2).sum()
    torch.testing.assert_close(logistic.regularization_loss(), expected)
    moe = create_model("moe", num_classes=CLASSES, feature_sizes=SIZES, l2=0.25)
    expected = 0.5 * 0.25 * (moe.head.gates.weight.pow(2).sum() + moe.head.experts.weight.pow(2).sum())
    torch.testing.assert_close(moe.regularization_loss(), expected)
    default = create_model("hinge", num_classes=CLASSES, feature_sizes=SIZES)
    torch.testing.assert_close(default.regularization_loss(), 0.5e-8 * default.fc.weight.pow(2).sum())


@pytest.mark.parametrize("g", [0.0, 1.0])
def test_moe_gradient_matches_closed_form_of_the_papers(g):
    """YouTube-8M paper eq. 6–7 (MiCRObE §3.5): log-loss gradients for one class and one example."""
    torch.manual_seed(1)
    model = create_model("moe", num_classes=1, feature_sizes=(5,), num_mixtures=2).double()
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.normal_(0, 0.7)  # away from the symmetric init so every term matters
    x = l2_normalize(torch.randn(1, 5, dtype=torch.float64))  # what `prepare` hands to the classifier
    out = model.classify(x, None)
    make_loss("cross_entropy", epsilon=0.0)(out, torch.tensor([[g]])).backward()

    xn = x[0]
    p_h_given_x = torch.softmax(model.head.gates.weight @ xn, dim=0).detach()  # [H + 1], last = dummy
    p_y_given_h = torch.sigmoid(model.head.experts.weight @ xn + model.head.experts.bias).detach()  # [H]
    p = out["predictions"][0, 0].detach()
    common = (p - g) / (p * (1 - p))
    for h in range(2):
        d_w = xn * p_h_given_x[h] * (p_y_given_h[h] - p) * common  # eq. 6
        d_u = xn * p_h_given_x[h] * p_y_given_h[h] * (1 - p_y_given_h[h]) * common  # eq. 7
        torch.testing.assert_close(model.head.gates.weight.grad[h], d_w)
        torch.testing.assert_close(model.head.experts.weight.grad[h], d_u)
        torch.testing.assert_close(model.head.experts.bias.grad[h], (d_u / xn)[0])  # bias: x = 1
    # the dummy state is an expert that always says 0: eq. 6 with p_{y|h} = 0
    torch.testing.assert_close(model.head.gates.weight.grad[2], xn * p_h_given_x[2] * (0 - p) * common)


def test_frames_need_a_feature_transform():
    model = create_model("logistic", num_classes=CLASSES, feature_sizes=SIZES)
    with pytest.raises(ValueError, match=r"takes video-level vectors \[batch, dims\].*features"):
        model(*frame_batch())


@pytest.mark.parametrize("name", ["logistic", "hinge", "moe"])
def test_models_on_frames_with_fitted_whitening_save_and_load(name):
    features = {"aggregate": "mean_std_topk", "top_k": 3, "whiten": True, "l2": True}
    model = create_model(name, num_classes=CLASSES, feature_sizes=SIZES, features=features)
    assert model.expects_frames and model.requires_fitting and model.input_dim == 5 * sum(SIZES)
    codes, num_frames = frame_batch()
    with pytest.raises(RuntimeError, match="not fitted"):
        model(codes, num_frames)
    model.fit_features(frame_batch(batch=50, seed=seed) for seed in range(1, 4))
    assert not model.requires_fitting
    out = model(codes, num_frames)
    assert out["predictions"].shape == (5, CLASSES)

    buffer = io.BytesIO()
    torch.save({"config": dataclasses.asdict(model.config), "state": model.state_dict()}, buffer)
    buffer.seek(0)
    saved = torch.load(buffer)
    assert "feature_transform.whitening.projection" in saved["state"]
    rebuilt = create_model(name, num_classes=CLASSES, feature_sizes=SIZES, **saved["config"])
    rebuilt.load_state_dict(saved["state"])
    assert not rebuilt.requires_fitting
    torch.testing.assert_close(rebuilt(codes, num_frames)["predictions"], out["predictions"])


def test_mean_of_frames_model_equals_video_level_model_on_mean_features():
    """features={aggregate: mean, whiten: false} on frames == the plain model on mean_rgb-style vectors."""
    on_frames = create_model("moe", num_classes=CLASSES, feature_sizes=SIZES, features={"aggregate": "mean", "whiten": False})
    on_vectors = create_model("moe", num_classes=CLASSES, feature_sizes=SIZES)
    on_vectors.load_state_dict(on_frames.state_dict())
    codes, num_frames = frame_batch()
    means = torch.from_numpy(aggregate_frames(codes.numpy(), num_frames.numpy(), statistics="mean"))
    torch.testing.assert_close(on_frames(codes, num_frames)["predictions"], on_vectors(means)["predictions"])


def test_video_vectors_with_paper_normalization_whiten_before_the_classifier():
    """features={aggregate: none}: the §4.2.2 normalization on video-level vectors, numbers of PCAWhitening."""
    model = create_model("logistic", num_classes=CLASSES, feature_sizes=SIZES, features={"aggregate": "none", "epsilon": 1e-6})
    assert not model.expects_frames and model.requires_fitting
    train = [video_batch(batch=100, seed=seed) for seed in range(3)]
    model.fit_features((x, torch.ones(x.shape[0])) for x in train)
    pca = PCAWhitening(epsilon=1e-6).fit(torch.cat(train).double().numpy())
    x = video_batch(seed=9)
    expected = model.head(torch.from_numpy(pca.transform(x.double().numpy())).float())["predictions"]
    torch.testing.assert_close(model(x)["predictions"], expected, rtol=1e-4, atol=1e-5)


def test_unknown_options_are_named():
    with pytest.raises(ValueError, match="no option.*'mixtures'.*num_mixtures"):
        create_model("moe", num_classes=2, feature_sizes=SIZES, mixtures=2)
    with pytest.raises(ValueError, match="features has no option.*'k'"):
        create_model("moe", num_classes=2, feature_sizes=SIZES, features={"k": 2})


def two_prototype_toy(rng, prototypes, per_class=200, noise=0.15):
    """Class c sits at +P_c and at −P_c: no single hyperplane separates it, two experts do."""
    classes, dims = prototypes.shape
    label = np.repeat(np.arange(classes), per_class)
    sign = rng.choice([-1.0, 1.0], size=label.size)
    x = prototypes[label] * sign[:, None] + noise * rng.normal(size=(label.size, dims))
    return torch.tensor(x, dtype=torch.float32), torch.tensor(np.eye(classes)[label], dtype=torch.float32)


@pytest.fixture
def one_thread():
    """Tiny matrices: thread hand-offs would cost more than the math (and compete with other tests)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_moe_learns_a_multimodal_problem_that_logistic_cannot(one_thread):
    rng = np.random.default_rng(0)
    prototypes = np.linalg.qr(rng.normal(size=(8, 8)))[0][:3]  # orthonormal class directions
    x, y = two_prototype_toy(rng, prototypes)
    x_test, y_test = two_prototype_toy(rng, prototypes)
    loss_fn = make_loss("cross_entropy")
    hit_at_1 = {}
    for name in ("logistic", "moe"):
        torch.manual_seed(0)
        model = create_model(name, num_classes=3, feature_sizes=(8,))
        optimizer = torch.optim.Adam(model.parameters(), lr=0.05)
        for _ in range(300):
            optimizer.zero_grad()
            loss_fn(model(x), y).backward()
            optimizer.step()
        with torch.no_grad():
            hit_at_1[name] = (model(x_test)["predictions"].argmax(1) == y_test.argmax(1)).float().mean().item()
    assert hit_at_1["moe"] > 0.95
    assert hit_at_1["logistic"] < 0.7
