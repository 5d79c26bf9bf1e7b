"""Switchboard dialer: outbound call campaigns paced under carrier limits."""
