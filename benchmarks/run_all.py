"""`make bench`: run every benchmarks/bench_*.py, then assemble BENCHMARKS.md from their tables.

Each script measures one claim side by side in one run and writes benchmarks/results/<name>.md.
Run one script alone with `python benchmarks/bench_<name>.py`; then `python benchmarks/run_all.py
--assemble` rebuilds BENCHMARKS.md from the results present.
"""

from __future__ import annotations

import argparse
import platform
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
ROOT = HERE.parent


def assembled() -> str:
    """BENCHMARKS.md's text from the sections in benchmarks/results/ (pure: reads only results/*.md)."""
    parts = [
        "# Benchmarks\n",
        "Produced by `make bench` (benchmarks/run_all.py); each section names the script that wrote it.",
        "Times come from one run on a shared 2-core machine: read the ratios, not the absolute numbers.\n",
    ]
    for result in sorted(RESULTS.glob("*.md")):
        parts.append(result.read_text().rstrip() + "\n")
    return "\n".join(parts)


def assemble() -> None:
    (ROOT / "BENCHMARKS.md").write_text(assembled())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--assemble", action="store_true", help="only rebuild BENCHMARKS.md")
    parser.add_argument("names", nargs="*", help="run only these bench_<name>.py")
    args = parser.parse_args()
    if not args.assemble:
        scripts = sorted(HERE.glob("bench_*.py"))
        if args.names:
            scripts = [s for s in scripts if s.stem.removeprefix("bench_") in args.names]
        for script in scripts:
            start = time.time()
            print(f"== {script.name}", flush=True)
            subprocess.run([sys.executable, str(script)], check=True, cwd=ROOT)
            print(f"   done in {time.time() - start:.0f}s ({platform.node()})", flush=True)
    assemble()


if __name__ == "__main__":
    main()
