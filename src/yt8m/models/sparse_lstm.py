"""The sparse-input LSTM of seed 000 §4: base-classifier scores in, a hierarchical softmax out.

- input: x_t = Σ_i s_it · w_i + b over the frame's non-zero base-classifier scores (IM, TM), an
  nn.EmbeddingBag with per-sample weights (never densified), 512 weights per input class;
  optionally the dense frame features (data.feature_names) concatenated (or dense frames alone);
- network: 5 stacked LSTM layers of 512, trained in 30-step chunks with the state carried across
  chunks (truncated back-propagation: no gradient crosses a chunk boundary), step weights rising
  linearly 1/30 … 1 within each chunk; `residual` adds each layer's input to its output (not in the
  paper: the plain 5-layer stack stalls on the label prior, configs/sparse_lstm.yaml turns it on; the
  default stays off so checkpoints saved before the option load unchanged);
- output: a label head (layers/label_heads.py): hierarchical softmax over a random tree with
  splitting factor 10 (the paper), a frequency tree, adaptive softmax, or the full softmax /
  sigmoid baselines;
- prediction: frame scores (the top-k labels per frame by beam search, or every class exactly when
  C ≤ dense_limit), pooled per video by mean (the paper), max or the last frame; the video
  representation is the top layer's state at the last frame (`embedding`, 512-d).

The model takes whole batches (`forward_batch`, `training_loss`): the trainer and the inference
loop use these hooks when a model has them.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn

from .base import VideoModel, frame_mask
from .layers.label_heads import make_label_head
from .layers.recurrent import make_rnn
from .registry import register_model

POOLING = ("mean", "max", "last")


@dataclass
class SparseLstmConfig:
    sparse_sizes: tuple[int, ...] = ()  # input vocabulary per sparse source (filled from data.sparse_sizes)
    embedding_size: int = 512  # weights per input class (the paper: 512)
    hidden_size: int = 512
    num_layers: int = 5
    unroll: int = 30  # truncated back-propagation chunk (30 s at 1 fps)
    step_weights: str = "linear"  # linear: 1/unroll … 1 within a chunk (the paper) | uniform
    output: str = "hsm"  # hsm | softmax | sigmoid | adaptive
    tree: str = "random"  # hsm: random (the paper) | frequency (Huffman on label counts)
    branching: int = 10  # hsm splitting factor (the paper: 10)
    tree_seed: int = 0
    vocabulary: str | None = None  # vocabulary.csv with TrainVideoCount for the frequency tree / adaptive order
    adaptive_cutoffs: tuple[float, ...] = (0.05, 0.2)
    pooling: str = "mean"  # video score from frame scores: mean (the paper) | max | last
    top_k: int = 20  # labels kept per frame when scoring by beam search (GAP@20 reads 20 per video)
    beam: int = 20
    dense_limit: int = 1000  # score every class exactly up to this many classes, else top-k per frame
    dropout: float = 0.0
    # add each layer's input to its output where the widths match (GNMT's deep LSTM stacks); off is the paper
    residual: bool = False


@register_model("sparse_lstm", config=SparseLstmConfig, frame_level=True)
class SparseLstmModel(VideoModel):
    """Sparse base-classifier scores -> EmbeddingBag -> 5×512 LSTM (30-step TBPTT) -> hierarchical softmax."""

    def __init__(self, config: SparseLstmConfig, *, num_classes: int, feature_sizes: tuple[int, ...]) -> None:
        super().__init__(config, num_classes=num_classes, feature_sizes=feature_sizes)
        if not config.sparse_sizes and not self.feature_dim:
            raise ValueError("sparse_lstm needs inputs: sparse (data.sparse_features, data.sparse_sizes) and/or dense frames (data.feature_names)")
        if config.pooling not in POOLING or config.step_weights not in ("linear", "uniform") or config.unroll < 1:
            raise ValueError(f"sparse_lstm: pooling must be one of {POOLING}, step_weights linear|uniform, unroll >= 1")
        self.embedding = None
        if config.sparse_sizes:
            self.embedding = nn.EmbeddingBag(int(sum(config.sparse_sizes)), config.embedding_size, mode="sum")
            nn.init.normal_(self.embedding.weight, std=config.embedding_size**-0.5)
            self.embedding_bias = nn.Parameter(torch.zeros(config.embedding_size))
        sizes = [(config.embedding_size if config.sparse_sizes else 0) + self.feature_dim] + [config.hidden_size] * config.num_layers
        self.layers = nn.ModuleList(make_rnn("lstm", a, config.hidden_size) for a in sizes[:-1])
        self.dropout = nn.Dropout(config.dropout)
        self.head = make_label_head(config.output, config.hidden_size, num_classes, tree=config.tree, branching=config.branching,
                                    seed=config.tree_seed, vocabulary=config.vocabulary, beam=config.beam, cutoffs=config.adaptive_cutoffs)

    # -- network -----------------------------------------------------------------------------------

    def frame_inputs(self, batch: dict) -> tuple[torch.Tensor, torch.Tensor]:
        """[B, T, E (+D)] inputs and the [B, T] mask of real frames."""
        features, num_frames = batch["features"], batch["num_frames"]
        B, T = features.shape[:2]
        mask = frame_mask(num_frames.to(features.device), T)
        parts = []
        if self.embedding is not None:
            if "sparse_ids" not in batch:
                raise ValueError("sparse_lstm was built for sparse inputs: read the data with data.sparse_features")
            x = self.embedding(batch["sparse_ids"], batch["sparse_offsets"], per_sample_weights=batch["sparse_scores"])
            parts.append(x.view(B, T, -1) + self.embedding_bias)
        if self.feature_dim:
            parts.append(self.prepare(features, num_frames)[0])
        return torch.cat(parts, dim=-1) * mask[..., None], mask

    def run(self, x: torch.Tensor, state: list | None) -> tuple[torch.Tensor, list]:
        """The stacked LSTM over [B, t, D] from `state` (None: zeros); returns outputs and the new state.

        Under CPU autocast the recurrence runs in float32: PyTorch's CPU LSTM has no bf16 kernel for
        padded input (oneDNN refuses the primitive)."""
        if x.device.type == "cpu" and torch.is_autocast_enabled("cpu"):
            with torch.autocast("cpu", enabled=False):
                return self._run(x.float(), state)
        return self._run(x, state)

    def _run(self, x: torch.Tensor, state: list | None) -> tuple[torch.Tensor, list]:
        new_state = []
        for i, layer in enumerate(self.layers):
            out, s = layer(x, None if state is None else state[i])
            new_state.append(s)
            x = self.dropout(out + x if self.config.residual and out.shape[-1] == x.shape[-1] else out)
        return x, new_state

    def step_weights(self, steps: int, device) -> torch.Tensor:
        if self.config.step_weights == "uniform":
            return torch.ones(steps, device=device)
        return torch.arange(1, steps + 1, device=device, dtype=torch.float32) / self.config.unroll

    # -- training ----------------------------------------------------------------------------------

    def training_loss(self, batch: dict) -> torch.Tensor:
        """Mean over the batch's videos of each video's step-weighted mean of the head's frame losses;
        the state is carried (detached) across chunks.

        Per video, not per frame over the batch: ranks and accumulated micro-batches average their
        losses, so only a mean of per-video terms trains N ranks exactly like one rank."""
        x, mask = self.frame_inputs(batch)
        labels = batch["labels"]
        video, label = labels.nonzero(as_tuple=True)  # row-major: each video's labels are contiguous
        per_video = torch.bincount(video, minlength=labels.shape[0])
        first = torch.cumsum(per_video, 0) - per_video
        total, weight_sum, state = x.new_zeros(labels.shape[0]), x.new_zeros(labels.shape[0]), None
        for start in range(0, x.shape[1], self.config.unroll):
            out, state = self.run(x[:, start : start + self.config.unroll], state)
            state = [tuple(t.detach() for t in s) for s in state]
            w = self.step_weights(out.shape[1], x.device)[None, :] * mask[:, start : start + out.shape[1]] * (per_video > 0)[:, None]
            b, t = w.nonzero(as_tuple=True)
            if b.numel() == 0:
                continue
            n = per_video[b]
            rows = torch.repeat_interleave(torch.arange(len(b), device=x.device), n)
            within = torch.arange(int(n.sum()), device=x.device) - torch.repeat_interleave(torch.cumsum(n, 0) - n, n)
            targets = label[first[b][rows] + within]
            loss = self.head.position_loss(out[b, t], rows, targets, 1.0 / n[rows].float())
            total = total.index_add(0, b, loss * w[b, t])
            weight_sum = weight_sum.index_add(0, b, w[b, t])
        return (total / weight_sum.clamp(min=1e-12)).mean()  # a video without labels adds 0

    # -- inference ---------------------------------------------------------------------------------

    def forward_batch(self, batch: dict) -> dict[str, torch.Tensor]:
        """{"predictions": [B, C] video scores, "embedding": [B, H] top-layer state at the last frame}."""
        x, mask = self.frame_inputs(batch)
        out, _ = self.run(x, None)  # the same as chunks with carried state: only gradients are truncated
        B, T = mask.shape
        last = (mask.sum(1) - 1).clamp(min=0)
        embedding = out[torch.arange(B, device=out.device), last]
        if self.config.pooling == "last":
            rows = torch.arange(B, device=out.device)
            frames = embedding
        else:
            rows, t = mask.nonzero(as_tuple=True)
            frames = out[rows, t]
        scores = out.new_zeros(B * self.num_classes)
        counts = mask.sum(1).clamp(min=1).float() if self.config.pooling == "mean" else torch.ones(B, device=out.device)
        chunk = max(1, 2**22 // self.num_classes)
        for lo in range(0, len(rows), chunk):
            r, h = rows[lo : lo + chunk], frames[lo : lo + chunk]
            classes, values = self.frame_scores(h)
            index = (r[:, None] * self.num_classes + classes).reshape(-1)
            values = (values / counts[r][:, None]).reshape(-1)
            if self.config.pooling == "max":
                scores.scatter_reduce_(0, index, values, "amax")
            else:
                scores.index_add_(0, index, values)
        return {"predictions": scores.view(B, self.num_classes), "embedding": embedding}

    def frame_scores(self, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(classes [N, K], scores [N, K]) per frame state: every class when C ≤ dense_limit, else the top-k."""
        if self.num_classes <= self.config.dense_limit:
            return torch.arange(self.num_classes, device=h.device).expand(h.shape[0], -1), self.head.probabilities(h)
        return self.head.top_k(h, self.config.top_k)

    def forward(self, features: torch.Tensor, num_frames: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """Dense frames only (a model built without sparse inputs); sparse batches go through forward_batch."""
        if num_frames is None:
            num_frames = torch.full((features.shape[0],), features.shape[1], dtype=torch.long, device=features.device)
        return self.forward_batch({"features": features, "num_frames": num_frames})
