"""Partition-data replication, Kafka's ISR model, as sans-IO cores.

- leader_epoch_cache: OffsetForLeaderEpoch answers and epoch lookups over the log's
  leader-epoch cache (flowlog.storage.leader_epoch, persisted by the log itself);
- leader_core: the leader's view of its followers, the high watermark, ISR
  shrink/expand decisions, acks=all completion, fetch validation;
- follower_core: a follower's truncation and fetch positions, as actions;
- purgatory_core / delayed_core: delayed produces and fetches, woken by events.

Nothing here does I/O, reads a clock or spawns a task: the broker's trio shell
passes time in and carries out what the cores return. See docs/replication-data.md.
"""
