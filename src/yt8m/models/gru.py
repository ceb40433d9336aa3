"""Stacked GRU, the recurrent model of the 2017 winners (WILLOW's GruModel: 2 × 1200 cells).

Same layout as `lstm`: GRU layers over the valid frames, the top layer's last output (or the
linearly weighted outputs) into an MoE head. `output: last_all_layers` is WILLOW's code: both
layers' final states concatenated (2 × 1200) into the head (configs/frame_gru_willow.yaml).
"""

from __future__ import annotations

from dataclasses import dataclass

from .layers.normalization import SLIM_MOMENTUM
from .lstm import LstmModel
from .registry import register_model


@dataclass
class GruConfig:
    hidden_size: int = 1200  # cells per layer (WILLOW --gru_cells=1200)
    num_layers: int = 2  # WILLOW --gru_layers
    output: str = "last"  # last | linear_weighted | last_all_layers (WILLOW's code: every layer's final state)
    dropout: float = 0.0
    input_bn: bool = False  # batch norm on the input frames (not in the official model; see seed 002)
    bn_momentum: float = SLIM_MOMENTUM
    classifier: str = "moe"
    num_mixtures: int = 2
    l2: float = 1e-6  # WILLOW --moe_l2=1e-6


@register_model("gru", config=GruConfig, frame_level=True)
class GruModel(LstmModel):
    """Stacked GRU over the frames; final state (or linearly weighted outputs) to an MoE head."""

    cell = "gru"
