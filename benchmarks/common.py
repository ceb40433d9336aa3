"""Helpers shared by benchmark scripts: timing and writing one result section."""

from __future__ import annotations

import os
import platform
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def timed(fn, *args, repeat: int = 1, **kwargs):
    """(best seconds over `repeat` runs, last result)."""
    best, result = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn(*args, **kwargs)
        best = min(best, time.perf_counter() - start)
    return best, result


def markdown_table(header: list[str], rows: list[list]) -> str:
    def fmt(v):
        if isinstance(v, float):
            return f"{v:,.4g}" if abs(v) < 1000 else f"{v:,.0f}"
        return str(v)

    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(fmt(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def write_section(name: str, title: str, command: str, body: str) -> None:
    """Write benchmarks/results/<name>.md atomically."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    text = (
        f"## {title}\n\n"
        f"Command: `{command}` — {time.strftime('%Y-%m-%d')}, {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} cores.\n\n{body.rstrip()}\n"
    )
    tmp = RESULTS / f".{name}.md.tmp"
    tmp.write_text(text)
    tmp.replace(RESULTS / f"{name}.md")


CACHE = Path(__file__).resolve().parent / ".cache"


def synthetic_dataset(preset: str = "medium", seed: int = 0, workers: int | None = None) -> Path:
    """The synthetic dataset every benchmark shares, generated once into benchmarks/.cache/ (resumable)."""
    from yt8m.synth import generate

    out = CACHE / f"{preset}-seed{seed}"
    generate(out, preset=preset, seed=seed, workers=workers)
    return out


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far (MB)."""
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
