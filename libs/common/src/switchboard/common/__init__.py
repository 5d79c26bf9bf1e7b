"""Shared contracts and wiring for every Switchboard service.

A service imports from here, never from another service.
"""
