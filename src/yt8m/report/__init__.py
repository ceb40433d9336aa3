"""Run reports: metric tables and figures for people to read."""
