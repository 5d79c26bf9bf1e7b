"""Switchboard call history: every call and message event, converged, queryable per tenant."""
