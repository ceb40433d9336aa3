"""Building blocks shared by the models (heads, pooling, gating, VLAD cores, masking)."""

from .heads import LogisticHead, MoeHead, make_head

__all__ = ["LogisticHead", "MoeHead", "make_head"]
