"""Building blocks shared by the models (heads, pooling, gating, VLAD cores, masking)."""

from .gating import ContextGating, GatedHead, SqueezeExcitationGating, make_classifier
from .heads import LogisticHead, MoeHead, init_output_bias, make_head
from .normalization import MaskedBatchNorm1d
from .pooling import AttentionPooling, linear_weighted_mean, masked_softmax
from .recurrent import RecurrentEncoder
from .sparse_moe import SparseMoE
from .vlad import NetFVCore, NetRVLADCore, NetVLADCore, NeXtVLADCore, SoftDBoFCore

__all__ = [
    "AttentionPooling", "ContextGating", "GatedHead", "LogisticHead", "MaskedBatchNorm1d", "MoeHead", "NetFVCore",
    "NetRVLADCore", "NetVLADCore", "NeXtVLADCore", "RecurrentEncoder", "SoftDBoFCore", "SparseMoE",
    "SqueezeExcitationGating", "init_output_bias", "linear_weighted_mean", "make_classifier", "make_head", "masked_softmax",
]
