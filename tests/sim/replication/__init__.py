"""Deterministic simulation of partition-data replication (docs/replication-data.md)."""
