"""Switchboard control plane: tenants, accounts, channels and credentials, distributed on
control.config."""
