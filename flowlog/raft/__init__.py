"""Raft consensus: a pure core (raft_core.RaftNode) and its message encoding.

See docs/replication.md, "Raft core".
"""
