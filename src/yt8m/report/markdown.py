"""The run report: a metrics table side by side, figures, and what each file is."""

from __future__ import annotations

import os
from pathlib import Path

METRIC_COLUMNS = [("gap", "GAP@20"), ("hit_at_1", "Hit@1"), ("hit_at_5", "Hit@5"), ("perr", "PERR"), ("map", "mAP"), ("map_buckets", "mAP (1e-4 buckets)")]


def metrics_table(rows: list[tuple[str, str, dict]]) -> str:
    """rows: (model, split, metrics dict) -> a markdown table."""
    header = "| model | split | videos | " + " | ".join(title for _, title in METRIC_COLUMNS) + " |"
    lines = [header, "|" + "---|" * (3 + len(METRIC_COLUMNS))]
    for model, split, metrics in rows:
        values = " | ".join(f"{metrics[key]:.4f}" if isinstance(metrics.get(key), float) else "–" for key, _ in METRIC_COLUMNS)
        lines.append(f"| {model} | {split} | {metrics.get('num_videos', '–')} | {values} |")
    return "\n".join(lines)


def write_markdown(path: str | Path, title: str, sections: list[tuple[str, str]]) -> Path:
    """Write `# title` and `## heading` sections atomically."""
    path = Path(path)
    text = f"# {title}\n\n" + "\n\n".join(f"## {heading}\n\n{body.strip()}" for heading, body in sections) + "\n"
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(text)
    os.replace(tmp, path)
    return path
