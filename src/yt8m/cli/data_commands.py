"""`yt8m inspect` and `yt8m convert`."""
from .app import app  # noqa: F401
