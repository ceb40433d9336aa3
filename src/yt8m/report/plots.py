"""Report figures: training curves and precision-recall curves (PNG via matplotlib, no display)."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def _pyplot():
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise ImportError("plots need matplotlib: pip install 'yt8m[report]'") from exc
    return plt


def precision_recall(predictions: np.ndarray, labels: np.ndarray, points: int = 200) -> tuple[np.ndarray, np.ndarray]:
    """Micro-averaged precision and recall over all (video, class) pairs, sampled at `points` cut-offs."""
    scores, truth = predictions.ravel(), labels.ravel() > 0
    order = np.argsort(-scores, kind="stable")
    hits = np.cumsum(truth[order])
    total = max(int(truth.sum()), 1)
    ranks = np.unique(np.geomspace(1, len(order), points).astype(np.int64)) - 1
    return hits[ranks] / (ranks + 1), hits[ranks] / total


def plot_training_curves(histories: dict[str, list[dict]], path: str | Path) -> Path:
    """Training loss and validation GAP against videos seen, one line per model."""
    plt = _pyplot()
    fig, (ax_loss, ax_gap) = plt.subplots(1, 2, figsize=(10, 3.8))
    for name, rows in histories.items():
        train = [r for r in rows if r.get("loss") not in (None, "")]
        evals = [r for r in rows if r.get("gap") not in (None, "")]
        if train:
            ax_loss.plot([r["examples"] for r in train], [r["loss"] for r in train], label=name)
        if evals:
            ax_gap.plot([r["examples"] for r in evals], [r["gap"] for r in evals], marker="o", label=name)
    ax_loss.set(xlabel="training videos seen", ylabel="training loss", title="Training loss")
    ax_gap.set(xlabel="training videos seen", ylabel="GAP@20", title="Validation GAP")
    for ax in (ax_loss, ax_gap):
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return Path(path)


def plot_precision_recall(curves: dict[str, tuple[np.ndarray, np.ndarray]], path: str | Path, title: str) -> Path:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5.2, 4.2))
    for name, (precision, recall) in curves.items():
        ax.plot(recall, precision, label=name)
    ax.set(xlabel="recall", ylabel="precision", title=title, xlim=(0, 1), ylim=(0, 1.02))
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return Path(path)
