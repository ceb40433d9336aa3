"""Recurrent encoders over packed sequences, so padding never enters the recurrence.

Frames are packed once (valid frames only, [N_valid, D]); per-frame operations between layers
(input batch norm, dropout, residual additions, a sparse MoE layer) act on the packed rows, which
keeps their statistics and their randomness free of padding too.
"""

from __future__ import annotations

import torch
import torch.nn as nn
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence, pad_packed_sequence

from .normalization import SLIM_MOMENTUM, MaskedBatchNorm1d
from .pooling import linear_weighted_mean

RNN_KINDS = {"lstm": nn.LSTM, "gru": nn.GRU}
OUTPUTS = ("last", "linear_weighted", "last_all_layers")


def pack_frames(x: torch.Tensor, mask: torch.Tensor) -> PackedSequence:
    """[B, T, D] + mask -> PackedSequence of the valid frames (an empty video keeps one zero frame)."""
    lengths = mask.sum(1).clamp(min=1).cpu()
    return pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)


def unpack_frames(packed: PackedSequence, total_length: int) -> torch.Tensor:
    """PackedSequence -> [B, T, H] in the original batch order, zeros after each video's end."""
    return pad_packed_sequence(packed, batch_first=True, total_length=total_length)[0]


def with_data(packed: PackedSequence, data: torch.Tensor) -> PackedSequence:
    """The same packing with new per-frame rows."""
    return packed._replace(data=data)


def make_rnn(kind: str, input_size: int, hidden_size: int) -> nn.RNNBase:
    """One batch-first LSTM or GRU layer; LSTMs get TF's forget-gate bias of 1."""
    if kind not in RNN_KINDS:
        raise ValueError(f"unknown recurrent cell {kind!r}: use {' or '.join(RNN_KINDS)}")
    rnn = RNN_KINDS[kind](input_size, hidden_size, batch_first=True)
    if kind == "lstm":  # gate order i, f, g, o; BasicLSTMCell adds forget_bias = 1.0
        with torch.no_grad():
            rnn.bias_ih_l0[hidden_size : 2 * hidden_size].fill_(1.0)
            rnn.bias_hh_l0[hidden_size : 2 * hidden_size].zero_()
    return rnn


def last_valid(outputs: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """[B, T, H] -> the output at each video's last valid frame [B, H]."""
    index = (mask.sum(1) - 1).clamp(min=0)
    return outputs[torch.arange(outputs.shape[0], device=outputs.device), index]


def pool_outputs(outputs: torch.Tensor, mask: torch.Tensor, how: str) -> torch.Tensor:
    """'last' (top layer at the last valid step) or 'linear_weighted' (weights 1/N … 1) of the top layer."""
    if how == "last":
        return last_valid(outputs, mask)
    if how == "linear_weighted":
        return linear_weighted_mean(outputs, mask)
    raise ValueError(f"unknown recurrent output {how!r}: use {' or '.join(OUTPUTS)}")


class RecurrentEncoder(nn.Module):
    """Stacked LSTM/GRU over the valid frames: [B, T, D] + mask -> [B, hidden] (or, with output
    "last_all_layers", every layer's final state concatenated: [B, num_layers · hidden], as WILLOW's
    GRU feeds its MultiRNNCell state to the classifier).

    Optional batch norm on the input frames, dropout after each layer, and residual connections
    (a bias-free projection where the widths differ), as seed 002's Simple_LSTM uses them.
    """

    def __init__(
        self,
        kind: str,
        input_size: int,
        hidden_size: int,
        num_layers: int,
        *,
        output: str = "last",
        dropout: float = 0.0,
        residual: bool = False,
        input_bn: bool = False,
        bn_momentum: float = SLIM_MOMENTUM,
    ) -> None:
        super().__init__()
        if num_layers < 1:
            raise ValueError(f"a recurrent encoder needs num_layers >= 1, got {num_layers}")
        if output not in OUTPUTS:
            raise ValueError(f"unknown recurrent output {output!r}: use {' or '.join(OUTPUTS)}")
        self.output, self.residual = output, residual
        self.input_bn = MaskedBatchNorm1d(input_size, momentum=bn_momentum) if input_bn else None
        sizes = [input_size] + [hidden_size] * num_layers
        self.layers = nn.ModuleList(make_rnn(kind, sizes[i], hidden_size) for i in range(num_layers))
        self.projections = nn.ModuleList(
            nn.Linear(sizes[i], hidden_size, bias=False) if residual and sizes[i] != hidden_size else nn.Identity()
            for i in range(num_layers)
        )
        self.dropout = nn.Dropout(dropout)
        self.out_features = hidden_size * (num_layers if output == "last_all_layers" else 1)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        packed = pack_frames(x, mask)
        rows = packed.data  # [N_valid, D]
        if self.input_bn is not None:
            rows = self.input_bn(rows)
        final_states = []
        for rnn, projection in zip(self.layers, self.projections):
            out, state = rnn(with_data(packed, rows))
            final_states.append((state[0] if isinstance(state, tuple) else state)[0])  # h at each video's last frame [B, H]
            out = self.dropout(out.data)
            rows = out + projection(rows) if self.residual else out
        if self.output == "last_all_layers":
            return torch.cat(final_states, dim=1)
        return pool_outputs(unpack_frames(with_data(packed, rows), x.shape[1]), mask, self.output)
