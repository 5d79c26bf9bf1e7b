"""Switchboard dialer service (not built yet; see its README)."""
