"""The five places where the published models (WILLOW/LOUPE, NeXtVLAD, YouTube-8M §4.1.1) differ
from our defaults are options, and the configs named after a published run select them (issue 11)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from yt8m.io.quantization import dequantize
from yt8m.models import create_model
from yt8m.models.base import l2_normalize
from yt8m.train.config import load_config
from yt8m.train.losses import make_loss

from test_frame_models import FEATURE_SIZES, LENGTHS, NUM_CLASSES, build, frames

CONFIGS = Path(__file__).resolve().parents[1] / "configs"


def labels_for(batch: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(batch, NUM_CLASSES, generator=g) < 0.4).float()


def test_frame_logistic_per_frame_training_makes_every_frame_an_example():
    """Paper §4.1.1: each frame is a training example with its video's labels (loss averaged over frames)."""
    x, lengths = frames(padding=3)
    labels = labels_for(len(LENGTHS))
    loss = make_loss("cross_entropy")
    model = build("frame_logistic", training="per_frame").train()
    per_frame = loss(model(x, lengths), labels)
    # by hand: score every valid frame alone as a one-frame video, with its video's labels
    rows, row_labels = [], []
    for b, n in enumerate(LENGTHS):
        for t in range(n):
            rows.append(model.eval()(x[b : b + 1, t : t + 1], torch.tensor([1]))["predictions"][0])
            row_labels.append(labels[b])
    expected = loss({"predictions": torch.stack(rows)}, torch.stack(row_labels))
    torch.testing.assert_close(per_frame, expected)
    averaged = build("frame_logistic").train()
    assert not torch.allclose(loss(averaged(x, lengths), labels), per_frame)  # a different objective
    with torch.no_grad():  # inference is the video average of frame scores in both modes
        torch.testing.assert_close(model.eval()(x, lengths)["predictions"], averaged.eval()(x, lengths)["predictions"])


def test_frame_logistic_per_frame_trains_through_the_trainer(tiny_data, tmp_path):
    from yt8m.train.config import config_from_dict
    from yt8m.train.trainer import train

    config = config_from_dict({
        "model": {"name": "frame_logistic", "training": "per_frame"},
        "data": {"kind": "frame", "num_classes": 64, "max_frames": 20, "sampling": "random", "num_samples": 5, "shuffle_buffer": 8},
        "optimizer": {"name": "adam", "lr": 0.01, "batch_size": 8},
        "train": {"epochs": 1, "log_every": 5, "checkpoint_every": 0, "tensorboard": False},
    })
    result = train(config, str(tiny_data / "frame" / "train*.tfrecord"), tmp_path / "run", progress=False)
    assert result.examples == 160 and all(np.isfinite(r["loss"]) for r in result.history)


def test_frame_logistic_rejects_an_unknown_training_mode():
    with pytest.raises(ValueError, match="per_frame"):
        build("frame_logistic", training="frames")


def cluster_norms(vector: torch.Tensor, dims: int, clusters: int) -> torch.Tensor:
    """Norm of each cluster's block of a flattened [D, K] vector -> [B, K]."""
    return vector.view(vector.shape[0], dims, clusters).norm(dim=1)


@pytest.mark.parametrize("norm", ["per_cluster", "global"])
def test_netfv_second_order_normalization(norm):
    """WILLOW's code L2-normalizes the second-order term globally only; ours also per cluster."""
    model = build("netfv", second_order_norm=norm).eval()
    x, lengths = frames()
    core, k, d = model.network.cores[0], 6, FEATURE_SIZES[0]
    with torch.no_grad():
        out = core(l2_normalize(dequantize(x[..., :d])), torch.arange(x.shape[1])[None] < lengths[:, None])
    first, second = out[:, : d * k], out[:, d * k :]
    torch.testing.assert_close(cluster_norms(first, d, k), torch.full((len(LENGTHS), k), k**-0.5))
    torch.testing.assert_close(second.norm(dim=1), torch.ones(len(LENGTHS)))
    spread = cluster_norms(second, d, k).std(dim=1)
    if norm == "per_cluster":
        assert spread.max() < 1e-5
    else:
        assert spread.min() > 1e-3  # clusters keep their relative weight


def test_netfv_rejects_an_unknown_normalization():
    with pytest.raises(ValueError, match="global"):
        build("netfv", second_order_norm="cluster")


@pytest.mark.parametrize("name", ["netvlad", "netrvlad", "netfv", "soft_dbof"])
def test_willow_hidden_layer_with_bias_and_no_batch_norm(name):
    """WILLOW's best runs: hidden FC with a bias, no batch norm there; input, cluster and gating BN stay."""
    model = build(name, hidden_bn=False).train()
    network = model.network
    assert network.hidden.bias is not None and isinstance(network.hidden_bn, torch.nn.Identity)
    assert network.input_bn is not None and network.gating.bn is not None
    x, lengths = frames()
    model(x, lengths)["predictions"].sum().backward()
    assert network.hidden.bias.grad.abs().sum() > 0
    default = build(name).network
    assert default.hidden.bias is None and not isinstance(default.hidden_bn, torch.nn.Identity)


def write_eigenvalues(path: Path, size: int, seed: int = 0) -> np.ndarray:
    values = np.random.default_rng(seed).uniform(0.01, 4.0, size=(size + 3, 1)).astype(np.float32)
    np.save(path, values)
    return values


def test_nextvlad_rescales_rgb_by_the_pca_eigenvalues_instead_of_l2(tmp_path):
    """The published NeXtVLAD multiplies rgb dim d by sqrt(λ_d) + 1e-4 and does not L2-normalize."""
    values = write_eigenvalues(tmp_path / "eigenvals.npy", FEATURE_SIZES[0])
    model = build("nextvlad", input_scaling="pca_eigenvalues", eigenvalues_file=str(tmp_path / "eigenvals.npy")).eval()
    seen = {}
    model.network.register_forward_pre_hook(lambda module, args: seen.update(x=args[0]))  # returns None: inputs unchanged
    x, lengths = frames(padding=2)
    with torch.no_grad():
        model(x, lengths)
    mask = torch.arange(x.shape[1])[None] < lengths[:, None]
    scale = np.concatenate([np.sqrt(values[: FEATURE_SIZES[0], 0]) + 1e-4, np.ones(FEATURE_SIZES[1])])
    expected = dequantize(x) * mask[..., None] * torch.as_tensor(scale, dtype=torch.float32)
    torch.testing.assert_close(seen["x"], expected)
    assert "input_scale" in model.state_dict()  # the scale travels with the weights


def test_nextvlad_eigenvalue_scaling_needs_the_file(tmp_path):
    with pytest.raises(ValueError, match="eigenvalues_file"):
        build("nextvlad", input_scaling="pca_eigenvalues")
    np.save(tmp_path / "short.npy", np.ones((4, 1), np.float32))
    with pytest.raises(ValueError, match="short.npy holds 4 eigenvalues"):
        build("nextvlad", input_scaling="pca_eigenvalues", eigenvalues_file=str(tmp_path / "short.npy"))


def test_gru_reads_both_layers_final_states():
    """WILLOW's GRU: the head reads every layer's final state concatenated (2 × hidden)."""
    model = build("gru", output="last_all_layers").eval()
    x, lengths = frames(padding=2)
    encoder = model.encoder
    with torch.no_grad():
        inputs = l2_normalize(dequantize(x))
        states = encoder(inputs, torch.arange(x.shape[1])[None] < lengths[:, None])
        assert states.shape == (len(LENGTHS), 2 * 12)
        for b, n in enumerate(LENGTHS):  # each video alone, no padding: layer outputs at the last frame
            first = encoder.layers[0](inputs[b : b + 1, :n])[0]
            second = encoder.layers[1](first)[0]
            torch.testing.assert_close(states[b], torch.cat([first[0, -1], second[0, -1]]), rtol=1e-5, atol=1e-6)
        top = build("gru", output="last").eval()
        top.encoder.load_state_dict(encoder.state_dict())
        torch.testing.assert_close(top.encoder(inputs, torch.arange(x.shape[1])[None] < lengths[:, None]), states[:, 12:])


PUBLISHED = {  # config file -> the options that make it the published run
    "frame_netvlad_willow.yaml": {"hidden_bn": False, "hidden_relu": False, "cluster_size": 256, "hidden_size": 1024},
    "frame_netfv_willow.yaml": {"hidden_bn": False, "second_order_norm": "global", "cluster_size": 128},
    "frame_gru_willow.yaml": {"output": "last_all_layers", "hidden_size": 1200, "num_layers": 2},
    "frame_nextvlad_paper.yaml": {"input_scaling": "pca_eigenvalues", "cluster_size": 128, "groups": 8},
    "frame_frame_logistic_paper.yaml": {"training": "per_frame"},
}


@pytest.mark.parametrize("file", sorted(PUBLISHED))
def test_published_run_configs_select_the_published_options(file, tmp_path):
    config = load_config(CONFIGS / file)
    for key, value in PUBLISHED[file].items():
        assert config.model_options[key] == value, (file, key)
    options = dict(config.model_options)
    if options.get("input_scaling") == "pca_eigenvalues":  # the real file ships with the dataset's PCA
        write_eigenvalues(tmp_path / "eigenvals.npy", config.data.feature_sizes[0])
        options["eigenvalues_file"] = str(tmp_path / "eigenvals.npy")
    model = create_model(config.model_name, num_classes=8, feature_sizes=config.data.feature_sizes, **options)
    assert sum(p.numel() for p in model.parameters()) > 0
