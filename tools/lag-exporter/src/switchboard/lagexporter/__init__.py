"""Consumer lag of Switchboard's Kafka groups, measured at the broker, as Prometheus metrics."""
