"""Watching the served model: the prediction log, reference profiles and drift checks."""
