"""BENCHMARKS.md holds only what the benchmark scripts printed (issue 11).

BENCHMARKS.md must be exactly the assembly of benchmarks/results/*.md, and every section that has
its raw measurements (results/<name>.json) must be exactly what its script renders from them: a
number or verdict typed into BENCHMARKS.md or into a section, or a renderer that no longer matches
its section, fails here.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks import common, run_all  # noqa: E402

RAW = sorted(common.RESULTS.glob("*.json"))
# the sections this issue moved onto stored raw results; the MiCRObE ones follow with their rework
REQUIRED = {"read", "video_models", "frame_models", "published_options"}


def test_benchmarks_md_is_the_assembly_of_the_result_sections():
    assert (ROOT / "BENCHMARKS.md").read_text() == run_all.assembled()


def test_the_reworked_sections_store_their_raw_results():
    assert REQUIRED <= {p.stem for p in RAW}


@pytest.mark.parametrize("raw", RAW, ids=lambda p: p.stem)
def test_section_is_rendered_from_its_raw_results(raw):
    section = common.RESULTS / f"{raw.stem}.md"
    assert section.read_text() == common.rerender(raw), f"{section.name} differs from what {json.loads(raw.read_text())['script']} renders from {raw.name}"


def test_verdicts_need_three_seeds_and_two_standard_errors():
    apart = common.verdict([0.50, 0.51, 0.52], [0.40, 0.41, 0.42])
    assert apart["verdict"] == "holds" and abs(apart["difference"] - 0.10) < 1e-12
    assert common.verdict([0.40, 0.41, 0.42], [0.50, 0.51, 0.52])["verdict"] == "does not hold"
    assert common.verdict([0.50, 0.60, 0.40], [0.48, 0.38, 0.58])["verdict"] == "not resolved"  # within 2 SE
    assert common.verdict([0.9], [0.1])["verdict"] == "not resolved"  # one seed resolves nothing
    assert common.verdict([0.9, 0.91], [0.1, 0.11])["verdict"] == "not resolved"
