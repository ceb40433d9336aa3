"""Evaluation: video-level metrics (Hit@k, PERR, GAP, mAP), a streaming evaluator, the segment MAP@K."""

from .evaluator import EvaluationResult, Evaluator
from .metrics import (
    BUCKETS,
    TOP_K,
    average_precision_buckets,
    gap,
    hit_at_k,
    mean_average_precision,
    per_class_average_precision,
    per_class_average_precision_buckets,
    perr,
    top_k_classes,
)
from .segments import (
    MAX_PREDICTIONS,
    read_segment_submission,
    segment_average_precisions,
    segment_id,
    segment_map_at_k,
    segment_ratings,
)

__all__ = [
    "BUCKETS", "MAX_PREDICTIONS", "TOP_K", "EvaluationResult", "Evaluator", "average_precision_buckets", "gap",
    "hit_at_k", "mean_average_precision", "per_class_average_precision", "per_class_average_precision_buckets",
    "perr", "read_segment_submission", "segment_average_precisions", "segment_id", "segment_map_at_k",
    "segment_ratings", "top_k_classes",
]
