"""The sparse-input LSTM (seed 000 §4): sparse collation, the hierarchical softmax and its trees,
truncated back-propagation with linear step weights, pooling, training / evaluation / prediction
through the usual trainer and CLI, and late fusion."""

import dataclasses
import json
import os

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from yt8m.cli import app
from yt8m.data.loader import DataConfig, VideoDataset
from yt8m.synth import generate
from yt8m.synth.sparse import vocabulary_sizes
from yt8m.io import RecordError, SparseFrames, VideoRecord, write_records
from yt8m.models.layers.hierarchical_softmax import HierarchicalSoftmax, frequency_tree, random_tree
from yt8m.models.layers.label_heads import AdaptiveHead, HsmHead, SigmoidHead, SoftmaxHead
from yt8m.models.registry import create_model
from yt8m.predict.fusion import fit_fusion, fuse, score
from yt8m.train.config import load_config
from yt8m.train.trainer import train

SIZES = (7, 11)  # im, tm vocabularies of the hand-written records


def sparse_record(vid: str, labels, frames: list[dict[str, list[tuple[int, float]]]]) -> VideoRecord:
    sparse = {}
    for source in ("im", "tm"):
        per_frame = [f.get(source, []) for f in frames]
        sparse[source] = SparseFrames.from_lists([[i for i, _ in x] for x in per_frame], [[s for _, s in x] for x in per_frame])
    return VideoRecord(vid, np.asarray(labels, np.int64), {}, sparse=sparse)


def data_config(**changes) -> DataConfig:
    base = dict(kind="frame", feature_names=(), feature_sizes=(), num_classes=5, sparse_features=("im", "tm"), sparse_sizes=SIZES, batch_size=8)
    return DataConfig(**{**base, **changes})


def write_hand_records(path, records) -> None:
    write_records(path, records, "frame", feature_names=(), feature_sizes=(), sparse_features=("im", "tm"), num_classes=5)


@pytest.fixture
def hand_records():
    return [
        sparse_record("a", [1, 3], [{"im": [(0, 0.5), (6, 0.25)], "tm": [(2, 1.0)]}, {}, {"tm": [(10, 0.75)]}]),
        sparse_record("b", [4], [{"im": [(3, 0.125)]}]),
    ]


def test_sparse_frames_collate_into_embedding_bags_equal_to_the_dense_sum(tmp_path, hand_records):
    write_hand_records(tmp_path / "x.tfrecord", hand_records)
    batch = next(iter(VideoDataset(str(tmp_path / "x.tfrecord"), data_config())))
    assert batch["num_frames"].tolist() == [3, 1] and batch["features"].shape == (2, 3, 0)
    bag = torch.nn.EmbeddingBag(sum(SIZES), 4, mode="sum")
    x = bag(batch["sparse_ids"], batch["sparse_offsets"], per_sample_weights=batch["sparse_scores"]).view(2, 3, 4)
    dense = torch.zeros(2, 3, sum(SIZES))  # Σ_i s_it w_i by hand: tm ids are shifted by the im vocabulary (7)
    dense[0, 0, 0], dense[0, 0, 6], dense[0, 0, 7 + 2], dense[0, 2, 7 + 10], dense[1, 0, 3] = 0.5, 0.25, 1.0, 0.75, 0.125
    torch.testing.assert_close(x, dense @ bag.weight)
    assert batch["labels"][0].nonzero().ravel().tolist() == [1, 3]


def test_a_sparse_id_outside_the_vocabulary_names_video_and_field(tmp_path):
    write_hand_records(tmp_path / "bad.tfrecord", [sparse_record("v9", [0], [{"tm": [(11, 0.5)]}])])
    with pytest.raises(RecordError, match=r"tm_ids.*'v9'.*11"):
        next(iter(VideoDataset(str(tmp_path / "bad.tfrecord"), data_config())))


def test_sparse_data_config_rejects_frame_sampling_and_mismatched_sizes():
    with pytest.raises(ValueError, match="sampling=all"):
        data_config(sampling="random")
    with pytest.raises(ValueError, match="differ in length"):
        data_config(sparse_sizes=(7,))


# ----------------------------------------------------------------------------------------------
# hierarchical softmax


@pytest.mark.parametrize("tree", [random_tree(37, 4, seed=3), frequency_tree(1.0 / (np.arange(37) + 1.0), 4),
                                  frequency_tree(1.0 / (np.arange(38) + 1.0), 4)],
                         ids=["random", "frequency", "frequency-with-empty-slots"])  # 38 classes: (38 - 1) % 3 leaves 2 slots empty
def test_hierarchical_softmax_is_a_distribution_and_beam_search_finds_the_exact_top_k(tree):
    torch.manual_seed(0)
    C = tree.num_classes
    hsm = HierarchicalSoftmax(6, tree)
    with torch.no_grad():
        hsm.weight.normal_()
    x = torch.randn(9, 6, requires_grad=True)
    logp = hsm.log_prob_all(x)
    torch.testing.assert_close(logp.exp().sum(1), torch.ones(9))
    torch.testing.assert_close(hsm.log_prob(x.repeat_interleave(C, 0), torch.arange(C).repeat(9)).view(9, C), logp)
    nll = hsm.nll(x, torch.arange(9).repeat_interleave(C), torch.arange(C).repeat(9))
    torch.testing.assert_close(-nll.view(9, C), logp)
    nll.sum().backward()
    assert torch.isfinite(x.grad).all() and torch.isfinite(hsm.weight.grad).all()
    classes, values = hsm.top_k(x.detach(), 5, beam=len(tree.children))
    best = logp.topk(5)
    assert torch.equal(classes, best.indices)
    torch.testing.assert_close(values, best.values)
    narrow, _ = hsm.top_k(x.detach(), 5, beam=5)  # a narrow beam is approximate, but returns real, distinct classes
    assert all(len(set(row)) == 5 for row in narrow.tolist()) and int(narrow.max()) < C


def test_random_tree_has_the_papers_splitting_factor_and_frequency_tree_shortens_frequent_paths():
    tree = random_tree(1000, 10)
    node, _, mask = tree.paths()
    assert tree.children.shape[1] == 10 and mask.sum(1).min() == mask.sum(1).max() == 3  # ⌈log10 1000⌉
    counts = 1.0 / (np.arange(1000) + 3.0)
    depth = frequency_tree(counts, 10).paths()[2].sum(1)
    assert depth[:10].mean() < depth[-100:].mean()
    assert (counts * depth).sum() / counts.sum() < 3.0  # shorter expected path than the balanced tree


def test_gathered_node_scores_have_exact_gradients():
    from yt8m.models.layers.hierarchical_softmax import _GatheredScores

    tree = random_tree(30, 3)
    nodes = torch.from_numpy(tree.paths()[0][[0, 7, 29, 12]])
    x = torch.randn(4, 5, dtype=torch.double, requires_grad=True)
    w = torch.randn(len(tree.children), 3, 5, dtype=torch.double, requires_grad=True)
    assert torch.autograd.gradcheck(lambda a, b: _GatheredScores.apply(a, b, nodes), (x, w))


def test_both_ways_of_scoring_training_pairs_agree(monkeypatch):
    """Few active nodes: one matmul over them; diverse labels: weights gathered per pair. Same loss and gradients."""
    from yt8m.models.layers import hierarchical_softmax

    torch.manual_seed(0)
    hsm = HierarchicalSoftmax(5, random_tree(50, 3))
    x = torch.randn(4, 5)
    rows, targets = torch.tensor([0, 0, 1, 2, 3, 3]), torch.tensor([4, 31, 4, 17, 49, 0])
    results = []
    for factor in (10**6, 0):
        monkeypatch.setattr(hierarchical_softmax, "ACTIVE_FACTOR", factor)
        hsm.zero_grad()
        loss = hsm.nll(x, rows, targets)
        loss.sum().backward()
        results.append((loss.detach(), hsm.weight.grad.clone()))
    torch.testing.assert_close(results[0][0], results[1][0])
    torch.testing.assert_close(results[0][1], results[1][1])
    torch.testing.assert_close(results[0][0], -hsm.log_prob_all(x)[rows, targets])


def test_the_hierarchical_softmax_serves_150000_classes():
    head = HsmHead(8, 150_000, branching=10)
    x = torch.randn(3, 8, requires_grad=True)
    loss = head.position_loss(x, torch.tensor([0, 0, 2]), torch.tensor([5, 149_999, 77_777]), torch.tensor([0.5, 0.5, 1.0]))
    loss.sum().backward()
    assert torch.isfinite(x.grad).all() and head.weight.grad.abs().sum() > 0
    classes, scores = head.top_k(x.detach(), 20)
    assert classes.shape == (3, 20) and (scores[:, :-1] >= scores[:, 1:]).all() and int(classes.max()) < 150_000


@pytest.mark.parametrize("head", [SoftmaxHead(6, 13), AdaptiveHead(6, 13, cutoffs=(0.3,)), HsmHead(6, 13, branching=3, tree="frequency")],
                         ids=["softmax", "adaptive", "hsm"])
def test_softmax_type_heads_spread_the_target_over_the_label_set(head):
    x = torch.randn(2, 6)
    rows, targets, weights = torch.tensor([0, 0, 1]), torch.tensor([3, 9, 12]), torch.tensor([0.5, 0.5, 1.0])
    p = head.probabilities(x)
    torch.testing.assert_close(p.sum(1), torch.ones(2))
    expected = torch.stack([-(0.5 * p[0, 3].log() + 0.5 * p[0, 9].log()), -p[1, 12].log()])
    torch.testing.assert_close(head.position_loss(x, rows, targets, weights), expected, rtol=1e-4, atol=1e-5)


def test_sigmoid_head_is_the_per_class_logistic_baseline():
    head = SigmoidHead(6, 13)
    x = torch.randn(2, 6)
    y = torch.zeros(2, 13)
    y[0, 3] = y[0, 9] = y[1, 12] = 1
    expected = torch.nn.functional.binary_cross_entropy(head.probabilities(x), y, reduction="none").sum(1)
    torch.testing.assert_close(head.position_loss(x, torch.tensor([0, 0, 1]), torch.tensor([3, 9, 12]), torch.ones(3)), expected, rtol=1e-4, atol=1e-5)


# ----------------------------------------------------------------------------------------------
# the network


def small_model(num_classes=5, **options):
    torch.manual_seed(0)
    options = {"sparse_sizes": SIZES, "embedding_size": 6, "hidden_size": 8, "num_layers": 2, "unroll": 2, "branching": 3, **options}
    return create_model("sparse_lstm", num_classes=num_classes, feature_sizes=(), **options)


def long_batch(tmp_path, frames=5, name="long", short=True):
    """A batch of video "l" (`frames` frames, labels 1 and 3; frame t fires tm id t) and, with
    `short`, video "s" (its first two frames, label 2)."""
    rng = np.random.default_rng(0)
    video = [{"im": [(int(rng.integers(7)), 0.5)], "tm": [(t % 11, 0.9)]} for t in range(frames)]
    records = [sparse_record("l", [1, 3], video)] + ([sparse_record("s", [2], video[:2])] if short else [])
    write_hand_records(tmp_path / f"{name}.tfrecord", records)
    return next(iter(VideoDataset(str(tmp_path / f"{name}.tfrecord"), data_config())))


def frame_losses(model, batch):
    """Per-frame head losses from one uncut run over each video."""
    x, mask = model.frame_inputs(batch)
    out, _ = model.run(x, None)
    losses = []
    for b in range(out.shape[0]):
        labels = batch["labels"][b].nonzero().ravel()
        n = int(mask[b].sum())
        rows = torch.arange(n).repeat_interleave(len(labels))
        losses.append(model.head.position_loss(out[b, :n], rows, labels.repeat(n), torch.full((len(rows),), 1.0 / len(labels))))
    return losses


def test_training_loss_carries_the_state_across_chunks_with_linearly_rising_step_weights(tmp_path):
    model, batch = small_model(), long_batch(tmp_path)
    losses = frame_losses(model, batch)
    weights = [torch.tensor([(t % 2 + 1) / 2 for t in range(len(l))]) for l in losses]  # unroll 2: 1/2, 1, 1/2, 1, 1/2
    expected = torch.stack([(w * l).sum() / w.sum() for w, l in zip(weights, losses)]).mean()  # per video, then over videos
    torch.testing.assert_close(model.training_loss(batch), expected)
    uniform = small_model(step_weights="uniform")
    torch.testing.assert_close(uniform.training_loss(batch), torch.stack([l.mean() for l in frame_losses(uniform, batch)]).mean())


def test_the_batch_loss_is_the_mean_of_the_videos_losses_however_the_batch_is_split(tmp_path):
    """Ranks and accumulated micro-batches average their losses: a batch's loss must be the mean of
    its videos' losses, so 2 ranks x 1 video train as 1 rank x 2 videos (the videos differ in length)."""
    model = small_model()
    both = long_batch(tmp_path, frames=5)
    alone = [long_batch(tmp_path, frames=5, name="l", short=False), long_batch(tmp_path, frames=2, name="s", short=False)]
    alone[1]["labels"] = both["labels"][1:]  # video "s" (its own labels) alone
    torch.testing.assert_close(model.training_loss(both), (model.training_loss(alone[0]) + model.training_loss(alone[1])) / 2)


def test_no_gradient_crosses_a_chunk_boundary(tmp_path):
    """Frame 0's input weight gets gradient only from its own chunk: the full video's gradient,
    rescaled by its weight sum, equals that of the video cut after the first chunk."""
    model = small_model(unroll=2)
    grads = []
    for frames in (6, 2):
        model.zero_grad()
        model.training_loss(long_batch(tmp_path, frames, name=f"v{frames}", short=False)).backward()
        grads.append(model.embedding.weight.grad[7 + 0].clone())  # tm id 0 (shifted by im's 7) fires in frame 0 only
    assert grads[1].abs().sum() > 0
    # the loss is a weighted mean: step weight sums 3 × (1/2 + 1) for 6 frames, 1/2 + 1 for 2
    torch.testing.assert_close(grads[0] * 4.5, grads[1] * 1.5, rtol=1e-4, atol=1e-7)


def across_videos(h: torch.Tensor) -> float:
    """The spread of the last frame's state across the videos of a batch: the part that depends on the video."""
    return float(h[:, -1].std(dim=0).mean())


def test_at_the_papers_depth_only_a_residual_stack_passes_the_input_to_the_top_layer():
    """Why 5 plain layers stalled at the label prior (BENCHMARKS, sparse LSTM): at initialisation the
    part of each layer's state that depends on the video halves with every layer; residual connections
    (`model.residual`) keep it."""
    torch.manual_seed(0)
    batch = {"features": torch.zeros(16, 40, 0), "num_frames": torch.full((16,), 40),
             "sparse_ids": torch.randint(0, sum(SIZES), (16 * 40 * 4,)), "sparse_offsets": torch.arange(0, 16 * 40 * 4, 4),
             "sparse_scores": torch.rand(16 * 40 * 4)}

    def top_over_input(residual: bool) -> float:
        model = small_model(embedding_size=64, hidden_size=64, num_layers=5, residual=residual)
        with torch.no_grad():
            x, _ = model.frame_inputs(batch)
            top, _ = model.run(x, None)
        return across_videos(top) / across_videos(x)

    assert top_over_input(residual=False) < 0.1
    assert top_over_input(residual=True) > 0.5


@pytest.mark.parametrize("pooling", ["mean", "max", "last"])
def test_video_scores_pool_frame_scores_and_beam_top_k_matches_exact_scoring(tmp_path, pooling):
    batch = long_batch(tmp_path)
    exact = small_model(pooling=pooling)
    beam = small_model(pooling=pooling, dense_limit=0, top_k=5, beam=50)  # every class kept: the same scores
    out = exact.forward_batch(batch)
    torch.testing.assert_close(beam.forward_batch(batch)["predictions"], out["predictions"])
    x, mask = exact.frame_inputs(batch)
    frames = exact.head.probabilities(exact.run(x, None)[0][0, :5])
    expected = {"mean": frames.mean(0), "max": frames.amax(0), "last": frames[-1]}[pooling]
    torch.testing.assert_close(out["predictions"][0], expected)
    assert out["embedding"].shape == (2, 8)


# ----------------------------------------------------------------------------------------------
# through the trainer, evaluator, predict CLI and fusion


@pytest.fixture(scope="module")
def sparse_data(tmp_path_factory):
    out = tmp_path_factory.mktemp("sparse_data")
    generate(out, preset="tiny", seed=0, workers=1, progress=False, sparse_features=("im", "tm"), levels=("frame",),
             min_frames=20, max_frames=40, test_videos=0, rated_test_videos=0, segment_validate_videos=0, segment_test_videos=0,
             world_version=2)  # plain classes: this checks the pipeline learns, the version-3 structure is the probes' job
    return out


@pytest.fixture(scope="module")
def sparse_run(sparse_data, tmp_path_factory):
    v = vocabulary_sizes(64)
    cfg = load_config("configs/sparse_lstm_tiny.yaml", [f"data.sparse_sizes=[{v['im']},{v['tm']}]"])
    run = tmp_path_factory.mktemp("runs") / "lstm"
    result = train(cfg, str(sparse_data / "frame" / "train*.tfrecord"), run, eval_data=str(sparse_data / "frame" / "validate*.tfrecord"), progress=False)
    return run, result


def test_sparse_lstm_trains_evaluates_and_resumes_through_the_trainer(sparse_run, sparse_data):
    run, result = sparse_run
    losses = [row["loss"] for row in result.history if "loss" in row]
    assert result.steps == 20 and np.isfinite(losses).all() and losses[-1] < losses[0]
    evals = [row for row in result.history if "hit_at_1" in row]
    assert evals and evals[-1]["hit_at_1"] > 0.2  # 64 classes: chance is ~0.05
    resumed = train(_config_of(run), str(sparse_data / "frame" / "train*.tfrecord"), run, resume=True, progress=False)
    assert resumed.steps == 20  # already at max_steps: nothing more to do, the checkpoint loads


def _config_of(run):
    from yt8m.train.config import config_from_dict

    return config_from_dict(json.loads((run / "config.json").read_text()))


def test_predict_writes_top_k_and_the_video_embeddings(sparse_run, sparse_data, tmp_path):
    run, _ = sparse_run
    out, emb = tmp_path / "p.csv", tmp_path / "e.npz"
    result = CliRunner().invoke(app, ["predict", str(run), "--data", str(sparse_data / "frame" / "validate*.tfrecord"), "--out", str(out), "--embeddings", str(emb)])
    assert result.exit_code == 0, result.output
    rows = out.read_text().splitlines()[1:]
    saved = np.load(emb)
    assert [r.split(",")[0] for r in rows] == saved["ids"].tolist()
    assert saved["embeddings"].shape == (len(rows), 16) and np.abs(saved["embeddings"]).sum() > 0
    assert len(rows[0].split(",")[1].split()) == 40  # 20 (class, score) pairs
    import yt8m
    from yt8m.io import read_records

    model = yt8m.load_model(run)
    files = str(sparse_data / "frame" / "validate*.tfrecord")
    from_records = np.stack([s for _, s in model.predict_records(read_records(files, model.data.schema), batch_size=7)])
    from_files = np.concatenate([b["predictions"] for b in model.predict_files(files)])
    np.testing.assert_allclose(from_records, from_files, rtol=1e-5, atol=1e-7)


def test_fusion_weight_is_fitted_on_held_out_videos():
    rng = np.random.default_rng(0)
    y = np.zeros((400, 30), np.float32)
    y[np.arange(400), rng.integers(30, size=400)] = 1
    noise = lambda: rng.random((400, 30)).astype(np.float32)  # noqa: E731
    a, b = y * 0.6 + noise(), y * 0.6 + noise()  # two independent, equally good models: fusing helps
    fusion = fit_fusion(a[:200], b[:200], y[:200])
    assert 0.2 <= fusion.weight <= 0.8
    assert fusion.heldout["fused"] > max(fusion.heldout["a"], fusion.heldout["b"])
    fused = fuse(a[200:], b[200:], fusion.weight)
    assert score(fused, y[200:]) > max(score(a[200:], y[200:]), score(b[200:], y[200:]))
    useless = fit_fusion(a, noise(), y)  # the grid holds w = 1: fusing never loses to the better model on held-out data
    assert useless.weight > 0.5 and useless.heldout["fused"] >= useless.heldout["a"]


def test_fuse_cli_combines_two_runs(sparse_run, sparse_data, tmp_path):
    run, _ = sparse_run
    other = tmp_path / "other"
    cfg = dataclasses.replace(_config_of(run), train=dataclasses.replace(_config_of(run).train, seed=1, max_steps=10))
    train(cfg, str(sparse_data / "frame" / "train*.tfrecord"), other, progress=False)
    out = tmp_path / "fused.csv"
    files = str(sparse_data / "frame" / "validate*.tfrecord")
    result = CliRunner().invoke(app, ["fuse", str(run), str(other), "--heldout", files, "--data", files, "--out", str(out)])
    assert result.exit_code == 0, result.output
    summary = json.loads((tmp_path / "fused.csv.fusion.json").read_text())
    assert summary["videos"] == len(out.read_text().splitlines()) - 1
    assert summary["test"]["fused"] >= max(summary["test"]["a"], summary["test"]["b"])  # fitted and tested on the same videos


# ----------------------------------------------------------------------------------------------
# two ranks under torchrun

DDP_ARGS = ["optimizer.name=sgd", "optimizer.lr=0.5", "train.epochs=5", "train.checkpoint_every=3", "train.tensorboard=false", "train.log_every=1"]


def _torchrun_train(data, out, *extra):
    import subprocess
    import sys

    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", "-m", "yt8m", "train", "configs/sparse_lstm_tiny.yaml", "--train-data", data, "--out", str(out), *extra]
    for arg in [*DDP_ARGS, "optimizer.batch_size=8"]:
        command += ["--set", arg]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]


def test_sparse_lstm_on_two_torchrun_ranks_equals_one_rank_at_double_batch_and_resumes(sparse_data, tmp_path):
    """DDP (gloo, CPU): 2 ranks × 8 videos = 1 rank × 16 (SGD: gradients agree to rounding), stopped
    after a checkpoint and resumed under torchrun; the whole-batch loss must go through DDP's
    gradient all-reduce, and equal-length or not, the ranks' videos must count as in one batch."""
    from safetensors.torch import load_file

    data = str(sparse_data / "frame" / "train*.tfrecord")
    one = load_config("configs/sparse_lstm_tiny.yaml", [*DDP_ARGS, "optimizer.batch_size=16", "train.max_steps=6"])
    train(one, data, tmp_path / "one", progress=False)
    _torchrun_train(data, tmp_path / "two", "--set", "train.max_steps=3")
    _torchrun_train(data, tmp_path / "two", "--resume", "--set", "train.max_steps=6", "--allow-change", "train.max_steps")

    def weights(run):
        return load_file(str(run / "checkpoints" / (run / "checkpoints" / "latest").read_text() / "model.safetensors"))

    summary = json.loads((tmp_path / "two" / "train_summary.json").read_text())
    assert summary["steps"] == 6 and summary["examples"] == 6 * 16
    reference, two = weights(tmp_path / "one"), weights(tmp_path / "two")
    assert two.keys() == reference.keys()
    for key in reference:
        torch.testing.assert_close(two[key], reference[key], rtol=1e-5, atol=1e-6, msg=key)
