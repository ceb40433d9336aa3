"""Models: one file per family, registered by name; `create_model` is the way in."""

from .base import VideoModel
from .registry import create_model, list_models, model_entry, register_model

__all__ = ["VideoModel", "create_model", "list_models", "model_entry", "register_model"]
