"""LSTM_MoE (seed 002 §4.3, Figures 3–4).

Input BN → LSTM_1 (512) → sparsely gated mixture-of-experts layer on every frame (64 experts,
top-4 active, each two FC layers of 1024, noisy top-k gating) → [batch norm, `moe_output_bn`] → LSTM_2 (512) → linearly
weighted sum of outputs (as Simple_LSTM) → sigmoid classifier; dropout 0.4 after each LSTM.
The importance and load-balancing losses (eq. 3–6) come back as "aux_loss"; the trainer adds
them to the objective. Everything runs on the packed valid frames, so padding never reaches
the gates or their losses.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn

from .base import VideoModel
from .layers.heads import make_head
from .layers.normalization import SLIM_MOMENTUM, MaskedBatchNorm1d
from .layers.pooling import linear_weighted_mean
from .layers.recurrent import make_rnn, pack_frames, unpack_frames, with_data
from .layers.sparse_moe import SparseMoE
from .registry import register_model


@dataclass
class LstmMoeConfig:
    hidden_size: int = 512  # LSTM_1 and LSTM_2 cells (LSTM_MoE_512)
    num_experts: int = 64
    top_k: int = 4  # experts active per frame
    expert_hidden_size: int = 1024  # both FC layers of every expert
    noisy_gating: bool = True
    importance_weight: float = 0.1  # w_importance (eq. 4)
    load_weight: float = 0.1  # w_load (eq. 6)
    dropout: float = 0.4  # after each LSTM layer
    # batch norm on the MoE layer's outputs before LSTM_2 (not in seed 002's text). Without it LSTM_2 reads
    # inputs ~20x smaller than its first layer's and the model stalls or collapses (BENCHMARKS.md, "Probe
    # worlds": lstm_moe_no_output_bn). Its evaluation statistics are the cumulative average over training
    # (not bn_momentum's slow average): with TF's 0.001 they stayed near their initial 0 / 1 over a short run
    # and the outputs shrank ~16x between training and evaluation. False, the default, keeps checkpoints
    # saved before the option as they were; the shipped configs/frame_lstm_moe.yaml sets true.
    moe_output_bn: bool = False
    classifier: str = "logistic"  # sigmoid classifier | moe
    num_mixtures: int = 2
    l2: float = 1e-8
    bn_momentum: float = SLIM_MOMENTUM


@register_model("lstm_moe", config=LstmMoeConfig, frame_level=True)
class LstmMoeModel(VideoModel):
    """LSTM → sparsely gated MoE layer (noisy top-k, balancing losses) → LSTM → classifier."""

    def __init__(self, config: LstmMoeConfig, *, num_classes: int, feature_sizes: tuple[int, ...]) -> None:
        super().__init__(config, num_classes=num_classes, feature_sizes=feature_sizes)
        self.input_bn = MaskedBatchNorm1d(self.feature_dim, momentum=config.bn_momentum)
        self.lstm1 = make_rnn("lstm", self.feature_dim, config.hidden_size)
        self.moe = SparseMoE(
            config.hidden_size, config.expert_hidden_size, num_experts=config.num_experts, k=config.top_k,
            expert_hidden_size=config.expert_hidden_size, noisy=config.noisy_gating,
            importance_weight=config.importance_weight, load_weight=config.load_weight,
        )
        self.moe_bn = MaskedBatchNorm1d(config.expert_hidden_size, momentum=None) if config.moe_output_bn else None
        self.lstm2 = make_rnn("lstm", config.expert_hidden_size, config.hidden_size)
        self.dropout = nn.Dropout(config.dropout)
        self.head = make_head(config.classifier, config.hidden_size, num_classes, num_mixtures=config.num_mixtures, l2=config.l2)

    def classify(self, x: torch.Tensor, mask: torch.Tensor) -> dict[str, torch.Tensor]:
        packed = pack_frames(x, mask)
        rows = self.input_bn(packed.data)  # [N_valid, D]
        rows = self.dropout(self.lstm1(with_data(packed, rows))[0].data)
        rows, aux_loss = self.moe(rows)  # [N_valid, expert_hidden]
        if self.moe_bn is not None:
            rows = self.moe_bn(rows)
        rows = self.dropout(self.lstm2(with_data(packed, rows))[0].data)
        pooled = linear_weighted_mean(unpack_frames(with_data(packed, rows), x.shape[1]), mask)
        return {**self.head(pooled), "aux_loss": aux_loss}
