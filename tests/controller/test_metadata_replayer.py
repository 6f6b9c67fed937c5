"""The metadata state machine: replays committed entries, snapshots, watched proposals."""

from __future__ import annotations

from metadata_harness import incarnation

from flowlog.controller.metadata_records import (
    RegisterBrokerRecord,
    TopicRecord,
    encode_record_batch,
)
from flowlog.controller.metadata_replayer import MetadataReplayer
from flowlog.controller.metadata_state import MetadataState
from flowlog.raft.messages import Entry, EntryKind


def batch_entry(index: int, term: int, *records: object) -> Entry:
    return Entry(index, term, encode_record_batch(records))  # type: ignore[arg-type]


def test_entries_replay_in_order_and_listeners_run_once_per_batch() -> None:
    replayer = MetadataReplayer(MetadataState())
    calls: list[int] = []
    replayer.add_listener(lambda: calls.append(replayer.applied_index))
    replayer.apply(Entry(1, 1, b"", EntryKind.NO_OP))
    replayer.applied_batch()
    assert calls == [], "a no-op changes nothing"
    replayer.apply(batch_entry(2, 1, RegisterBrokerRecord(1, "h", 1, None, incarnation(1))))
    replayer.apply(batch_entry(3, 1, TopicRecord("t", bytes(15) + b"\x01")))
    replayer.applied_batch()
    assert calls == [3]
    assert (replayer.applied_index, replayer.applied_term) == (3, 1)
    broker = replayer.state.broker(1)
    assert broker is not None and broker.epoch == 0
    assert replayer.state.topic_by_name("t") is not None


def test_a_snapshot_is_offered_after_enough_bytes_and_restores() -> None:
    first = batch_entry(1, 2, RegisterBrokerRecord(1, "h", 1, None, incarnation(1)))
    topics = [
        batch_entry(index, 2, TopicRecord(f"t{index}", bytes(15) + bytes([index])))
        for index in range(2, 6)
    ]
    replayer = MetadataReplayer(
        MetadataState(), snapshot_bytes_between=len(first.payload) + 1
    )
    replayer.apply(first)
    assert replayer.take_snapshot() is None
    for entry in topics:
        replayer.apply(entry)
    snapshot = replayer.take_snapshot()
    assert snapshot is not None and (snapshot.index, snapshot.term) == (5, 2)
    assert replayer.take_snapshot() is None, "the byte count starts over"
    other = MetadataReplayer(MetadataState())
    other.start_from(snapshot)
    assert other.state == replayer.state and other.applied_index == 5


def test_watched_proposals_learn_the_term_applied_at_their_index() -> None:
    replayer = MetadataReplayer(MetadataState())
    replayer.watch(1)
    replayer.watch(2)
    assert replayer.watched_outcome(1) is None
    replayer.apply(Entry(1, 3, b"", EntryKind.NO_OP))
    assert replayer.watched_outcome(1) == 3
    assert replayer.watched_outcome(2) is None
    replayer.unwatch(1)
    assert replayer.watched_outcome(1) is None
