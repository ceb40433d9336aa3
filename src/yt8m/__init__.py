"""yt8m: large-scale video classification from precomputed YouTube-8M-style frame features."""

__version__ = "0.1.0"
