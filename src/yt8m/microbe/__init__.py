"""MiCRObE (seed 000, §3): Max Calibration mixtuRe Of Experts over sparse base-classifier scores.

calibration (§3.1, eq. 1–2) -> max-calibration (eq. 3) -> hard negative mining with per-worker
top-k queues (§3.2–3.3, eq. 4) -> per-label logistic regression / mixture of experts (§3.4–3.5,
eq. 6–8) -> the cascade (eq. 5). Stages run as Dask tasks (yt8m.microbe.dask_jobs);
`run_microbe` runs them end to end and `load_microbe_model` reads the saved model directory.
"""

from .calibration import CalibrationProblem, CalibrationStats, calibrate, fit_calibration
from .cascade import CascadeModel, feature_thresholds, label_thresholds
from .curves import calibration_curve, inverse_calibration
from .features import FeatureSpace, SparseExamples, video_examples, video_statistics, window_average
from .maxcal import MaxCalibrationModel
from .mining import HardNegativeMiner, RandomNegativeSampler, default_k, expected_recovered, mined_labels
from .pairs import PairTable
from .pipeline import (
    MicrobeConfig, MicrobeJob, MicrobeModel, is_microbe_model, load_microbe_model, run_microbe,
)
from .second_order import LabelModel, fit_logistic, fit_moe, train_label

__all__ = [
    "CalibrationProblem", "CalibrationStats", "CascadeModel", "FeatureSpace", "HardNegativeMiner", "LabelModel",
    "MaxCalibrationModel", "MicrobeConfig", "MicrobeJob", "MicrobeModel", "PairTable", "RandomNegativeSampler",
    "SparseExamples", "calibrate", "calibration_curve", "default_k", "expected_recovered", "feature_thresholds",
    "fit_calibration", "fit_logistic", "fit_moe", "inverse_calibration", "is_microbe_model", "label_thresholds",
    "load_microbe_model", "mined_labels", "run_microbe", "train_label", "video_examples", "video_statistics",
    "window_average",
]
