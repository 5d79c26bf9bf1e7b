"""Offline provider simulator (not built yet; see its README)."""
