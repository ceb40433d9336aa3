"""Imports every model file so each registers itself. Add one line per new model file."""
