"""Helpers shared by benchmark scripts: timing, verdicts with their uncertainty, and one result section.

A section is reproducible when its script stores what it measured and renders from that alone:
`publish(script, name, title, command, raw)` writes the raw measurements to results/<name>.json
(with the command, date and machine) and results/<name>.md = `rerender(results/<name>.json)`,
which imports the script and calls its pure `render(raw) -> str`. tests/test_benchmarks_md.py
re-renders every section that has a JSON and compares byte for byte, so no measured value or
verdict can be typed into a template.
"""

from __future__ import annotations

import importlib.util
import json
import math
import os
import platform
import sys
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


def machine() -> dict:
    """Where and when a measurement ran (stored with the raw results)."""
    return {"date": time.strftime("%Y-%m-%d"), "machine": platform.processor() or platform.machine(), "cores": os.cpu_count()}


def section_text(title: str, command: str, meta: dict, body: str) -> str:
    return (
        f"## {title}\n\n"
        f"Command: `{command}` — {meta['date']}, {meta['machine']}, {meta['cores']} cores.\n\n{body.rstrip()}\n"
    )


def _atomic_write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    tmp.replace(path)


def write_section(name: str, title: str, command: str, body: str) -> None:
    """Write benchmarks/results/<name>.md atomically (scripts without a raw JSON; prefer `publish`)."""
    _atomic_write(RESULTS / f"{name}.md", section_text(title, command, machine(), body))


def publish(script: str, name: str, title: str, command: str, raw: dict, meta: dict | None = None) -> str:
    """Store `raw` as results/<name>.json, then write results/<name>.md rendered from it alone.

    `script` is the benchmark's file (its module must define `render(raw) -> str`); `meta` keeps the
    date and machine of an earlier measurement when a section is re-rendered from its cache."""
    record = {"script": Path(script).name, "title": title, "command": command, **(meta or machine()), "raw": raw}
    path = RESULTS / f"{name}.json"
    _atomic_write(path, json.dumps(record, indent=1, sort_keys=True) + "\n")
    text = rerender(path)
    _atomic_write(RESULTS / f"{name}.md", text)
    return text


def load_raw(name: str) -> dict:
    """The stored record of results/<name>.json (keys: script, title, command, date, machine, cores, raw)."""
    return json.loads((RESULTS / f"{name}.json").read_text())


def republish(script: str, name: str, title: str, command: str, raw: dict | None = None) -> str:
    """`publish` again under the stored measurement's date and machine: the stored raw results, or
    `raw` (the stored ones with a part added) when given."""
    record = load_raw(name)
    return publish(script, name, title, command, record["raw"] if raw is None else raw, {k: record[k] for k in ("date", "machine", "cores")})


def add_seed_run_arguments(parser, name: str, seeds) -> None:
    """--from-cache, --publish-now and --seeds for scripts that run one process per seed."""
    parser.add_argument("--from-cache", action="store_true", help=f"re-render the section from results/{name}.json")
    parser.add_argument("--publish-now", action="store_true", help="train nothing; publish the runs stored so far, complete or not")
    parser.add_argument("--seeds", default=",".join(map(str, seeds)), help="run only these seeds (one process per seed runs them in parallel)")


def ridge_fit(x, y, lam: float = 1.0):
    """Weights of ridge regression from rows `x` to the centred targets `y`: (xᵀx + λI)⁻¹ xᵀ(y − ȳ)."""
    import numpy as np

    return np.linalg.solve(x.T @ x + lam * np.eye(x.shape[1]), x.T @ (y - y.mean(0)))


def rerender(json_path: Path) -> str:
    """The section text of a stored record: its script's `render(raw)` under the stored header."""
    record = json.loads(Path(json_path).read_text())
    spec = importlib.util.spec_from_file_location(f"_bench_{Path(json_path).stem}", Path(__file__).resolve().parent / record["script"])
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the script loads
    spec.loader.exec_module(module)
    return section_text(record["title"], record["command"], record, module.render(record["raw"]))


# --- verdicts: an ordering is claimed only when the numbers resolve it --------------------------

MIN_SEEDS = 3


def mean_se(values: list[float]) -> tuple[float, float]:
    """(mean, standard error of the mean); the SE is nan below 2 values, both nan for none."""
    n = len(values)
    if n == 0:
        return float("nan"), float("nan")
    mean = sum(values) / n
    if n < 2:
        return mean, float("nan")
    variance = sum((v - mean) ** 2 for v in values) / (n - 1)
    return mean, math.sqrt(variance / n)


def verdict(a_values: list[float], b_values: list[float]) -> dict:
    """Claim "a above b": "holds" when mean(a) − mean(b) > 2 SE of the difference, "does not hold" when
    it is below −2 SE, otherwise (or with fewer than MIN_SEEDS values on a side) "not resolved"."""
    (a, a_se), (b, b_se) = mean_se(list(a_values)), mean_se(list(b_values))
    difference = a - b
    se = math.sqrt(a_se**2 + b_se**2)
    if min(len(a_values), len(b_values)) < MIN_SEEDS or not math.isfinite(se):
        word = "not resolved"
    elif difference > 2 * se:
        word = "holds"
    elif difference < -2 * se:
        word = "does not hold"
    else:
        word = "not resolved"
    return {"verdict": word, "a_mean": a, "a_se": a_se, "b_mean": b, "b_se": b_se, "difference": difference, "se": se,
            "seeds": min(len(a_values), len(b_values))}


def interval_verdict(mean: float, se: float, threshold: float, *, above: bool = True) -> str:
    """Claim "the quantity is above `threshold`" (or below, `above=False`): "holds" when the whole
    mean ± 2 SE interval is on the claimed side, "does not hold" when it is all on the other side,
    else (or with an unknown SE) "not resolved"."""
    low, high = mean - 2 * se, mean + 2 * se
    if not (math.isfinite(low) and math.isfinite(high)):
        return "not resolved"
    if (low > threshold) if above else (high < threshold):
        return "holds"
    if (high < threshold) if above else (low > threshold):
        return "does not hold"
    return "not resolved"


def within_verdict(mean: float, se: float, low: float, high: float) -> str:
    """Claim "low < quantity < high": both bounds hold (2 SE), or either is broken (2 SE), else not resolved."""
    verdicts = {interval_verdict(mean, se, low), interval_verdict(mean, se, high, above=False)}
    return "holds" if verdicts == {"holds"} else "does not hold" if "does not hold" in verdicts else "not resolved"


def threshold_verdict(values, threshold: float, *, above: bool = True) -> str:
    """interval_verdict over the mean and standard error of `values` (seeds, rounds, repeats)."""
    return interval_verdict(*mean_se([float(v) for v in values]), threshold, above=above)


def plus_minus(mean: float, se: float, digits: int = 3) -> str:
    """"0.512 ± 0.004" (mean ± standard error; just the value when the SE is unknown; "–" for no value)."""
    if not math.isfinite(mean):
        return "–"
    return f"{mean:.{digits}f}" if not math.isfinite(se) else f"{mean:.{digits}f} ± {se:.{digits}f}"


def mean_pm(values: list[float], digits: int = 3) -> str:
    return plus_minus(*mean_se(list(values)), digits)


def verdict_text(v: dict, digits: int = 3) -> str:
    """"holds (0.512 ± 0.004 vs 0.498 ± 0.003, 3 seeds)"."""
    seeds = f"{v['seeds']} seed{'s' if v['seeds'] != 1 else ''}"
    return f"{v['verdict']} ({plus_minus(v['a_mean'], v['a_se'], digits)} vs {plus_minus(v['b_mean'], v['b_se'], digits)}, {seeds})"


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
