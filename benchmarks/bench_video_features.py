"""Cost of the [μ; σ; Top_5] video features at paper size (1152-dim frames -> 8064-dim vectors).

Claims measured side by side in one run:
1. batched torch aggregation vs the NumPy reference on the same uint8 frames;
2. fitting the whitening: float64 statistics per 1024 videos and the one eigendecomposition
   (the numbers behind `fit_max_videos` in configs/video_moe_mean_std_top5.yaml);
3. what the whitening adds to a forward pass of the MoE(2) model on 8064-dim vectors.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import markdown_table, timed, write_section  # noqa: E402
from yt8m.features import FrameAggregation, PCAWhitening, aggregate_frames  # noqa: E402
from yt8m.models import create_model  # noqa: E402

FRAME_DIMS, FRAMES, TOP_K, CLASSES = 1152, 300, 5, 3862


def main() -> None:
    rng = np.random.default_rng(0)
    rows = []

    codes = rng.integers(0, 256, size=(128, FRAMES, FRAME_DIMS), dtype=np.uint8)
    lengths = rng.integers(60, FRAMES + 1, size=128)
    numpy_s, _ = timed(aggregate_frames, codes, lengths, top_k=TOP_K, repeat=2)
    module = FrameAggregation("mean_std_topk", TOP_K)
    frames_t, lengths_t = torch.from_numpy(codes), torch.from_numpy(lengths)
    with torch.no_grad():
        torch_s, _ = timed(module, frames_t, lengths_t, repeat=2)
    rows.append(["aggregate 128 videos × 300 frames, NumPy", numpy_s, 128 / numpy_s])
    rows.append(["aggregate 128 videos × 300 frames, torch", torch_s, 128 / torch_s])

    dims = (2 + TOP_K) * FRAME_DIMS
    batch = rng.normal(size=(1024, dims))
    pca = PCAWhitening()
    pca._reset()
    pca._accumulate(batch)  # first batch initializes; the timed one is a merge, as in a stream
    accumulate_s, _ = timed(pca._accumulate, batch)
    rows.append([f"whitening statistics, 1024 videos × {dims} dims (float64)", accumulate_s, 1024 / accumulate_s])
    decompose_s, _ = timed(pca._decompose)
    rows.append([f"whitening eigendecomposition, {dims} × {dims}", decompose_s, "—"])

    plain = create_model("moe", num_classes=CLASSES, feature_sizes=(dims,))
    whitened = create_model("moe", num_classes=CLASSES, feature_sizes=(dims,), features={"aggregate": "none"})
    whitened.feature_transform.whitening.load_estimator(pca)
    x = torch.from_numpy(batch[:256].astype(np.float32))
    with torch.no_grad():
        plain_s, _ = timed(plain, x, repeat=3)
        whitened_s, _ = timed(whitened, x, repeat=3)
    rows.append([f"MoE(2) forward, 256 × {dims}, no whitening", plain_s, 256 / plain_s])
    rows.append([f"MoE(2) forward, 256 × {dims}, with whitening", whitened_s, 256 / whitened_s])

    body = markdown_table(["step", "seconds", "videos/s"], rows)
    body += (
        f"\n\ntorch aggregation is {numpy_s / torch_s:.1f}× the NumPy reference's speed; fitting the whitening on "
        f"100k videos costs ≈{100_000 / 1024 * accumulate_s / 60:.0f} min of statistics plus {decompose_s / 60:.1f} min "
        f"for the eigendecomposition; whitening inside the model makes the MoE forward "
        f"{whitened_s / plain_s:.2f}× as long.\n"
    )
    write_section(
        "video_features", "Video-level features: aggregation and whitening cost", "python benchmarks/bench_video_features.py", body
    )
    print(body)


if __name__ == "__main__":
    main()
