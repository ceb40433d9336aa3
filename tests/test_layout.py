"""Package layering: lower layers never import higher ones, so imports run one way."""

from __future__ import annotations

import ast
from pathlib import Path

import yt8m

PACKAGE = Path(yt8m.__file__).parent


def imported_packages(folder: str) -> dict[str, set[str]]:
    """{module file: yt8m subpackages it imports (relative or absolute)}."""
    found: dict[str, set[str]] = {}
    for path in sorted((PACKAGE / folder).glob("*.py")):
        names: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                module = node.module or ""
                if node.level == 2:  # from ..x import
                    names.add(module.split(".")[0])
                elif module.startswith("yt8m."):
                    names.add(module.split(".")[1])
        found[path.name] = names
    return found


def test_features_do_not_import_models():
    """models (video-level classifiers) use the feature pipeline; features must not reach back up."""
    offenders = {name: sorted(deps & {"models", "train", "predict"}) for name, deps in imported_packages("features").items()}
    assert not {k: v for k, v in offenders.items() if v}


def test_models_do_not_import_training_or_prediction():
    offenders = {name: sorted(deps & {"train", "predict", "evaluation", "cli"}) for name, deps in imported_packages("models").items()}
    assert not {k: v for k, v in offenders.items() if v}
