"""Benchmark tooling shared by the services' ``bench/`` scripts (never by a service)."""
