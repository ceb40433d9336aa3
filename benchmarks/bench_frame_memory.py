"""Claim: every frame-level model's default config trains at batch 64 on CPU within 8 GiB (issue 4).

Each configs/frame_<model>.yaml is built as it is (default widths, 3862 classes, 1024 + 128
features) in its own process and trained for two steps of Adam on a batch of 64 full-length
videos: max_frames frames each (300), or the config's num_samples when it samples frames. The
table gives the process's peak resident memory, the seconds of the second step, the parameter
count and the model file size (`yt8m models`). Random uint8 frames stand in for data: memory
and time depend on the shapes only. Run: `.venv/bin/python benchmarks/bench_frame_memory.py`.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.common import markdown_table, peak_rss_mb, write_section  # noqa: E402

BATCH = 64
LIMIT_MB = 8 * 1024


def frame_configs() -> list[Path]:
    return sorted((ROOT / "configs").glob("frame_*.yaml"))


def one(config_path: Path) -> dict:
    """Two training steps of one config in this process; its peak RSS and step time."""
    import torch

    from yt8m.models.summary import model_summary
    from yt8m.train.build import build_loss, build_model
    from yt8m.train.config import load_config
    from yt8m.train.optim import make_optimizer

    torch.set_num_threads(2)
    torch.manual_seed(0)
    cfg = load_config(config_path)
    data = cfg.data
    frames = data.num_samples if data.sampling in ("random", "window") else data.max_frames
    model = build_model(cfg).train()
    loss_fn = build_loss(cfg)
    optimizer = make_optimizer(model.parameters(), cfg.optimizer)
    features = torch.randint(0, 256, (BATCH, frames, sum(data.feature_sizes)), dtype=torch.uint8)
    num_frames = torch.full((BATCH,), frames, dtype=torch.long)
    labels = (torch.rand(BATCH, data.num_classes) < 3 / data.num_classes).float()
    seconds = 0.0
    for _ in range(2):
        start = time.perf_counter()
        outputs = model(features, num_frames)
        loss = loss_fn(outputs, labels) + outputs.get("aux_loss", 0.0) + model.regularization_loss()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        seconds = time.perf_counter() - start
    summary = model_summary(cfg.model_name, num_classes=data.num_classes, feature_sizes=data.feature_sizes, **cfg.model_options)
    return {"config": config_path.name, "model": cfg.model_name, "frames": frames, "params": summary["params"],
            "size_mb": summary["size_mb"], "peak_rss_mb": peak_rss_mb(), "step_seconds": seconds}


def main() -> None:
    if len(sys.argv) == 3 and sys.argv[1] == "--one":
        print(json.dumps(one(Path(sys.argv[2]))))
        return
    rows, results = [], []
    for path in frame_configs():
        done = subprocess.run([sys.executable, __file__, "--one", str(path)], capture_output=True, text=True, cwd=ROOT)
        if done.returncode != 0:
            raise RuntimeError(f"{path.name}: {done.stderr.strip().splitlines()[-1]}")
        r = json.loads(done.stdout.strip().splitlines()[-1])
        results.append(r)
        print(json.dumps(r), flush=True)
        rows.append([r["config"], r["frames"], f"{r['params'] / 1e6:.1f}M", f"{r['size_mb']:.0f}", f"{r['peak_rss_mb'] / 1024:.2f}",
                     r["step_seconds"], "yes" if r["peak_rss_mb"] <= LIMIT_MB else "**no**"])
    body = "\n\n".join([
        f"Each config as shipped (3862 classes), Adam, batch {BATCH} of full-length videos, two training steps in a fresh "
        "process; peak RSS includes Python, PyTorch and the optimizer state.",
        markdown_table(["config", "frames per video", "params", "model file MB", "peak RSS GiB", "step s", "within 8 GiB"], rows),
    ])
    write_section("frame_memory", "Frame-level default configs: memory at batch 64 on CPU (issue 4)",
                  "python benchmarks/bench_frame_memory.py", body)


if __name__ == "__main__":
    main()
