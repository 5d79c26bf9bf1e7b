"""Real adapters of the history service."""
