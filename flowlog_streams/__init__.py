"""Kafka-Streams-style stream processing on flowlog (or any Kafka-compatible cluster)."""
