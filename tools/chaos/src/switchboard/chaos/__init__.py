"""Faults on purpose under load (``make chaos``)."""
