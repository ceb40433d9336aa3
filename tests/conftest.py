"""Shared fixtures: small real datasets written by the synthetic generator, once per session."""
