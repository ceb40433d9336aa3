"""yt8m: large-scale video classification from precomputed YouTube-8M-style frame features."""

__version__ = "0.1.0"


def load_model(path, *, device: str = "auto"):
    """Load a trained checkpoint (or run directory, or MiCRObE model directory) for prediction."""
    from .predict.loaded import load_model as _load

    return _load(path, device=device)


__all__ = ["__version__", "load_model"]
