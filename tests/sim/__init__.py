"""Deterministic simulation of a Raft cluster on virtual time (see docs/replication.md)."""
