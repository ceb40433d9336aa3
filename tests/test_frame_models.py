"""Frame-level model zoo: every model trains, ignores padding, evaluates deterministically, round-trips."""

from __future__ import annotations

import copy
import dataclasses
import math

import pytest
import torch
from safetensors.torch import load as load_safetensors
from safetensors.torch import save as save_safetensors
from typer.testing import CliRunner

from yt8m.cli import app
from yt8m.models import create_model, list_models, model_entry
from yt8m.models.layers.heads import init_output_bias
from yt8m.models.layers.pooling import linear_time_weights
from yt8m.models.layers.sampling import random_frame_indices, random_window_indices, uniform_frame_indices
from yt8m.models.layers.sparse_moe import SparseMoE, balancing_loss, cv_squared
from yt8m.models.summary import list_model_summaries, model_summary

FEATURE_SIZES = (16, 8)
NUM_CLASSES = 5
LENGTHS = [6, 3, 1, 5]

# Small widths so every model runs in milliseconds; the defaults are counted in test_default_configs.
SMALL = {
    "frame_logistic": {},
    "dbof": {"cluster_size": 32, "hidden_size": 16, "num_samples": 4},
    "lstm": {"hidden_size": 12},
    "gru": {"hidden_size": 12, "output": "linear_weighted"},
    "bof": {"hidden_size": 32},
    "simple_lstm": {"hidden_size": 12, "num_layers": 2, "residual": True},
    "lstm_moe": {"hidden_size": 12, "num_experts": 6, "top_k": 2, "expert_hidden_size": 10},
    "attention": {"attention_size": 8},
    "multi_attention": {"attention_size": 8, "num_heads": 3, "prediction_pooling": "max"},
    "netvlad": {"cluster_size": 6, "audio_cluster_size": 3, "hidden_size": 16},
    "netrvlad": {"cluster_size": 6, "audio_cluster_size": 3, "hidden_size": 16},
    "netfv": {"cluster_size": 6, "audio_cluster_size": 3, "hidden_size": 16},
    "soft_dbof": {"cluster_size": 16, "audio_cluster_size": 4, "hidden_size": 16, "max_pool": True},
    "nextvlad": {"cluster_size": 6, "groups": 4, "hidden_size": 16, "gating_reduction": 4},
}
FRAME_MODELS = sorted(SMALL)


def build(name: str, *, seed: int = 0, no_dropout: bool = False, **extra) -> torch.nn.Module:
    options = {**SMALL.get(name, {}), **extra}
    fields = {f.name for f in dataclasses.fields(model_entry(name).config_cls)}
    if no_dropout and "dropout" in fields:
        options["dropout"] = 0.0
    torch.manual_seed(seed)
    return create_model(name, num_classes=NUM_CLASSES, feature_sizes=FEATURE_SIZES, **options)


def frames(padding: int = 0, *, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """uint8 frames [4, max(LENGTHS) + padding, 24] whose padding holds garbage, and the lengths."""
    g = torch.Generator().manual_seed(seed)
    T = max(LENGTHS)
    x = torch.randint(0, 256, (len(LENGTHS), T, sum(FEATURE_SIZES)), generator=g, dtype=torch.uint8)
    garbage = torch.randint(0, 256, (len(LENGTHS), T + padding, sum(FEATURE_SIZES)), dtype=torch.uint8)
    garbage[:, :T] = x
    for b, n in enumerate(LENGTHS):  # the valid frames are the same whatever the padding
        garbage[b, n:] = torch.randint(0, 256, (T + padding - n, sum(FEATURE_SIZES)), dtype=torch.uint8)
    return garbage, torch.tensor(LENGTHS)


def run(model: torch.nn.Module, x: torch.Tensor, lengths: torch.Tensor, seed: int = 0) -> dict[str, torch.Tensor]:
    """Forward with all randomness (global RNG, DBoF's generator) reset to `seed`."""
    torch.manual_seed(seed)
    if hasattr(model, "reseed"):
        model.reseed(seed)
    return model(x, lengths)


def test_every_issue_model_is_registered_as_frame_level():
    registered = {e.name: e for e in list_models()}
    for name in FRAME_MODELS:
        assert registered[name].frame_level, name
        assert registered[name].description, name


@pytest.mark.parametrize("name", FRAME_MODELS)
def test_forward_backward_with_padding(name):
    model = build(name).train()
    x, lengths = frames(padding=3)
    out = run(model, x, lengths)
    p = out["predictions"]
    assert p.shape == (len(LENGTHS), NUM_CLASSES)
    assert torch.isfinite(p).all() and (p > 0).all() and (p < 1).all()
    loss = torch.nn.functional.binary_cross_entropy(p, torch.randint(0, 2, p.shape).float())
    loss = loss + out.get("aux_loss", 0.0) + model.regularization_loss()
    loss.backward()
    missing = [n for n, q in model.named_parameters() if q.grad is None and not n.startswith("moe.experts.")]
    assert not missing, f"{name}: parameters without gradient: {missing}"
    assert all(torch.isfinite(q.grad).all() for q in model.parameters() if q.grad is not None)


@pytest.mark.parametrize("name", FRAME_MODELS)
def test_padding_never_leaks(name):
    """Same videos padded to T and T+7 (garbage in the padding): same predictions and BN statistics."""
    short, lengths = frames(padding=0)
    long, _ = frames(padding=7)
    a = build(name, no_dropout=True).train()
    b = copy.deepcopy(a)
    torch.testing.assert_close(run(a, short, lengths)["predictions"], run(b, long, lengths)["predictions"], rtol=1e-4, atol=1e-5)
    for (key, va), vb in zip(a.state_dict().items(), b.state_dict().values()):
        torch.testing.assert_close(va, vb, rtol=1e-4, atol=1e-6, msg=f"{name}: {key} differs after padded batch")
    a.eval()
    torch.testing.assert_close(a(short, lengths)["predictions"], a(long, lengths)["predictions"], rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("name", FRAME_MODELS)
def test_evaluation_is_deterministic(name):
    model = build(name).train()
    x, lengths = frames(padding=2)
    model(x, lengths)  # one training step's worth of BN statistics
    model.eval()
    with torch.no_grad():
        first, second = model(x, lengths)["predictions"], model(x, lengths)["predictions"]
    assert torch.equal(first, second)


@pytest.mark.parametrize("name", ["attention", "multi_attention"])
def test_attention_weights_sum_to_one_over_valid_frames(name):
    model = build(name).eval()
    x, lengths = frames(padding=4)
    weights = model(x, lengths)["attention"]
    if name == "attention":
        assert weights.shape == (len(LENGTHS), x.shape[1])
        weights = weights[:, None]
    else:
        assert weights.shape == (len(LENGTHS), SMALL[name]["num_heads"], x.shape[1])
    for b, n in enumerate(LENGTHS):
        torch.testing.assert_close(weights[b, :, :n].sum(-1), torch.ones(weights.shape[1]))
        assert (weights[b, :, n:] == 0).all()
        assert (weights[b, :, :n] > 0).all()


def test_moe_balancing_loss_punishes_collapsed_gates():
    assert cv_squared(torch.tensor([2.0, 2.0, 2.0, 2.0])).item() == 0.0
    assert cv_squared(torch.tensor([4.0, 0.0, 0.0, 0.0])).item() == pytest.approx(3.0)  # var 3, mean 1
    rows, experts = 16, 4
    balanced = torch.zeros(rows, experts)
    balanced[torch.arange(rows), torch.arange(rows) % experts] = 1.0
    collapsed = torch.zeros(rows, experts)
    collapsed[:, 0] = 1.0
    weights = dict(importance_weight=0.1, load_weight=0.1)
    assert balancing_loss(balanced, (balanced > 0).sum(0).float(), **weights).item() == 0.0
    assert balancing_loss(collapsed, (collapsed > 0).sum(0).float(), **weights).item() == pytest.approx(0.1 * 3 + 0.1 * 3)


def test_moe_layer_load_loss_grows_when_the_gate_collapses():
    torch.manual_seed(0)
    x = torch.randn(256, 6)
    moe = SparseMoE(6, 5, num_experts=8, k=2, expert_hidden_size=4).train()
    _, balanced = moe(x)
    with torch.no_grad():
        moe.gating.w_gate[:, :2] = 5.0 * x.mean(0, keepdim=True).T.sign()  # experts 0 and 1 win every row
    x_aligned = x.abs() * x.mean(0).sign()
    _, collapsed = moe(x_aligned)
    assert collapsed.item() > 10 * balanced.item()
    collapsed.backward()
    assert moe.gating.w_noise.grad.abs().sum() > 0  # the load term is differentiable through the noise


def test_moe_layer_uses_only_k_experts_per_row():
    torch.manual_seed(1)
    moe = SparseMoE(6, 5, num_experts=8, k=3, expert_hidden_size=4).train()
    gates, _ = moe.gating(torch.randn(32, 6))
    assert ((gates > 0).sum(1) == 3).all()
    torch.testing.assert_close(gates.sum(1), torch.ones(32))


def test_frame_sampling_indices_stay_inside_each_video():
    lengths = torch.tensor([1, 7, 300, 2])
    g = torch.Generator().manual_seed(0)
    for indices in (random_frame_indices(lengths, 30, g), random_window_indices(lengths, 30, g), uniform_frame_indices(lengths, 30)):
        assert indices.shape == (4, 30)
        assert (indices >= 0).all() and (indices < lengths[:, None]).all()
    window = random_window_indices(lengths, 30, g)[2]
    assert torch.equal(window, window[0] + torch.arange(30))  # contiguous
    assert uniform_frame_indices(torch.tensor([300]), 3).tolist() == [[50, 150, 250]]


def test_linear_time_weights_go_from_one_over_n_to_one():
    mask = torch.tensor([[True, True, True, True, False], [True, False, False, False, False]])
    torch.testing.assert_close(linear_time_weights(mask), torch.tensor([[0.25, 0.5, 0.75, 1.0, 0.0], [1.0, 0, 0, 0, 0]]))


@pytest.mark.parametrize("entry", list_models(), ids=lambda e: e.name)
def test_state_dict_round_trip_through_safetensors(entry):
    """Every registered model (frame- and video-level) survives save -> load with identical outputs."""
    model = build(entry.name, seed=0).eval()
    restored = build(entry.name, seed=1).eval()
    if entry.frame_level:
        inputs = frames(padding=2)
    else:
        inputs = (torch.randn(len(LENGTHS), sum(FEATURE_SIZES)), None)
    blob = save_safetensors({k: v.contiguous() for k, v in model.state_dict().items()})
    restored.load_state_dict(load_safetensors(blob))
    with torch.no_grad():
        torch.testing.assert_close(restored(*inputs)["predictions"], model(*inputs)["predictions"])


def test_default_configs_are_counted():
    """Every default config builds (on the meta device) and reports params and size."""
    summaries = {s["name"]: s for s in list_model_summaries()}
    assert set(FRAME_MODELS) <= set(summaries)
    for s in summaries.values():
        assert s["params"] > 0 and s["size_mb"] >= s["params"] * 4 / 2**20
    d, c = 1024 + 128, 3862
    assert summaries["frame_logistic"]["params"] == d * c + c
    bn = 2  # gamma, beta
    moe2 = 1024 * c * 3 + 1024 * c * 2 + c * 2  # gates (no bias) + experts
    assert summaries["dbof"]["params"] == bn * d + d * 8192 + bn * 8192 + 8192 * 1024 + bn * 1024 + moe2
    lstm = 4 * 1024 * (d + 1024) + 2 * 4 * 1024 + 4 * 1024 * 2048 + 2 * 4 * 1024
    assert summaries["lstm"]["params"] == lstm + moe2


@pytest.mark.parametrize("name", ["dbof", "lstm_moe", "nextvlad"])
def test_summary_counts_the_real_model(name):
    model = build(name)
    summary = model_summary(name, num_classes=NUM_CLASSES, feature_sizes=FEATURE_SIZES, **SMALL[name])
    assert summary["params"] == sum(p.numel() for p in model.parameters())
    assert summary["size_mb"] == pytest.approx(sum(t.numel() * t.element_size() for t in model.state_dict().values()) / 2**20)


def test_models_cli_lists_the_registry():
    result = CliRunner().invoke(app, ["models", "--frame-level", "--num-classes", "10", "--feature-sizes", "16,8"])
    assert result.exit_code == 0, result.output
    for name in FRAME_MODELS:
        assert name in result.output
    expected = model_summary("frame_logistic", num_classes=10, feature_sizes=(16, 8))["params"]
    assert f"{expected:,}" in result.output and expected == 24 * 10 + 10


def test_unknown_options_are_rejected_with_the_valid_names():
    with pytest.raises(ValueError, match="cluster_size"):
        create_model("netvlad", num_classes=3, feature_sizes=FEATURE_SIZES, clusters=3)
    with pytest.raises(ValueError, match="pooling"):
        build("dbof", pooling="median")


def test_dbof_training_samples_differ_but_evaluation_does_not():
    model = build("dbof")
    x, lengths = frames()
    model.train()
    with torch.no_grad():
        a, b = model(x, lengths)["predictions"], model(x, lengths)["predictions"]
    assert not torch.equal(a, b)  # fresh k frames per step
    assert math.isfinite(a.sum().item())


def test_frame_configs_load_and_build():
    """configs/frame_<model>.yaml exist for every zoo model and fill the model's config."""
    from pathlib import Path

    from yt8m.train.config import load_config

    root = Path(__file__).resolve().parents[1] / "configs"
    for name in FRAME_MODELS:
        config = load_config(root / f"frame_{name}.yaml")
        assert config.model_name == name and config.data.kind == "frame"
        summary = model_summary(name, num_classes=config.data.num_classes, feature_sizes=config.data.feature_sizes, **config.model_options)
        assert summary["params"] > 0


def test_dbof_sampling_state_travels_with_the_state_dict():
    """A resumed run samples the same frames as an uninterrupted one."""
    model = build("dbof", no_dropout=True).train()
    x, lengths = frames()
    with torch.no_grad():
        model(x, lengths)  # advance the sampler
        saved = {k: v.clone() for k, v in model.state_dict().items()}
        expected = model(x, lengths)["predictions"]
        resumed = build("dbof", seed=3).train()
        resumed.load_state_dict(saved)
        torch.testing.assert_close(resumed(x, lengths)["predictions"], expected)


@pytest.mark.parametrize("entry", [e for e in list_models() if e.name not in ("hinge", "sparse_lstm")], ids=lambda e: e.name)  # softmax outputs: no prior logit
def test_output_bias_starts_every_head_at_the_prior(entry):
    """train.output_bias: predictions start near σ(-7) instead of 0.5 for every registered model."""
    model = build(entry.name) if entry.frame_level else create_model(entry.name, num_classes=NUM_CLASSES, feature_sizes=FEATURE_SIZES)
    x, lengths = frames()
    inputs = (x, lengths) if entry.frame_level else (x.float().mean(1) / 255, None)
    model.eval()
    with torch.no_grad():
        before = model(*inputs)["predictions"]
        assert init_output_bias(model, -7.0) >= 1
        after = model(*inputs)["predictions"]
    assert before.mean() > 0.05 and after.max() < 0.01


def test_output_bias_needs_a_classifier_head():
    with pytest.raises(ValueError, match="HingeModel has no logistic or MoE classifier head"):
        init_output_bias(create_model("hinge", num_classes=NUM_CLASSES, feature_sizes=FEATURE_SIZES), -7.0)


def _small_shipped_lstm_moe():
    """configs/frame_lstm_moe.yaml's model with small widths."""
    from yt8m.train.config import load_config

    options = {k: v for k, v in load_config("frame_lstm_moe").model.items() if k != "name"}
    options.update(hidden_size=32, num_experts=8, top_k=2, expert_hidden_size=64)
    torch.manual_seed(0)
    return create_model("lstm_moe", num_classes=10, feature_sizes=(24, 8), **options)


def test_shipped_lstm_moe_feeds_its_second_lstm_inputs_of_unit_scale():
    """LSTM_2 reads the MoE layer's outputs. Unnormalized they are ~20x smaller than what LSTM_1 reads,
    and the model stalled or collapsed on the probe worlds; the shipped config batch-normalizes them."""
    model = _small_shipped_lstm_moe().train()
    seen = {}
    model.lstm2.register_forward_pre_hook(lambda m, args: seen.update(x=args[0].data))
    frames = torch.randint(0, 256, (16, 20, 32), dtype=torch.uint8)
    model(frames, torch.full((16,), 20))
    spread = float(seen["x"].std(0).mean())
    assert 0.5 < spread < 2.0, spread


def test_shipped_lstm_moe_evaluates_with_the_moe_outputs_statistics_of_a_short_run():
    """Evaluation must normalize the MoE outputs with the statistics of the training batches; a slow
    running average (TF's momentum 0.001) kept them near 0 / 1 after a short run, ~16x off."""
    model = _small_shipped_lstm_moe().train()
    variances = []
    model.moe_bn.register_forward_pre_hook(lambda m, args: variances.append(args[0].var(0, unbiased=True)))
    with torch.no_grad():
        for _ in range(3):
            model(torch.randint(0, 256, (16, 20, 32), dtype=torch.uint8), torch.full((16,), 20))
    seen = torch.stack(variances).mean(0)
    ratio = float((model.moe_bn.running_var / seen).mean())
    assert 0.7 < ratio < 1.3, ratio
