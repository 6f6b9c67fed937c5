"""The segmented partition log: segments, indexes, recovery, retention, compaction."""
