"""Switchboard ai service (not built yet; see its README)."""
