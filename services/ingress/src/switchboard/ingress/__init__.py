"""Switchboard ingress: verify provider webhooks, publish typed events to Kafka."""
