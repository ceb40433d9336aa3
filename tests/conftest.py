"""Shared fixtures: small real datasets written by the synthetic generator, once per session."""

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory) -> Path:
    """The `tiny` synthetic dataset (preset tiny, seed 0), generated once per test session.

    Layout and contents: docs/synthetic.md; sizes and the generator's truth: `<path>/manifest.json`.
    """
    from yt8m.synth import generate

    out = tmp_path_factory.mktemp("tiny_data")
    generate(out, preset="tiny", seed=0, workers=1, progress=False)
    return out
