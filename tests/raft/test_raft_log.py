"""The in-memory log: merging, truncation, compaction and what counts as durable."""

from __future__ import annotations

import pytest

from flowlog.raft.log_core import RaftLog, RaftLogError
from flowlog.raft.messages import Entry, Snapshot


def entries(*terms: int, start: int = 1) -> list[Entry]:
    return [Entry(start + offset, term, f"{start + offset}".encode()) for offset, term in enumerate(terms)]


def test_merge_skips_held_entries_and_cuts_at_the_first_conflict() -> None:
    log = RaftLog(entries=entries(1, 1, 2, 2))
    log.merge([Entry(2, 1, b"2"), Entry(3, 3, b"x"), Entry(4, 3, b"y")], commit_index=1)
    assert [log.term_at(i) for i in range(1, 5)] == [1, 1, 3, 3]
    assert log.pending_from == 3 and log.persisted_index == 2


def test_merge_of_a_matching_prefix_keeps_the_longer_log() -> None:
    log = RaftLog(entries=entries(1, 1, 2, 2))
    log.merge(entries(1, 1), commit_index=0)
    assert log.last_index == 4 and not log.has_pending


def test_merge_never_cuts_a_committed_entry() -> None:
    log = RaftLog(entries=entries(1, 1, 2))
    with pytest.raises(AssertionError, match="committed"):
        log.merge([Entry(2, 5)], commit_index=2)


def test_an_entry_cut_while_its_ready_was_in_flight_is_not_counted_durable() -> None:
    log = RaftLog(entries=entries(1))
    log.append(Entry(2, 1))
    log.append(Entry(3, 1))
    _, in_flight = log.take_pending()
    log.merge([Entry(3, 2)], commit_index=1)  # a new leader overwrites index 3
    log.mark_persisted(None, in_flight)
    assert log.persisted_index == 2
    _, next_batch = log.take_pending()
    assert next_batch == [Entry(3, 2)]


def test_compaction_keeps_terms_at_the_boundary_and_restores_skip_covered_entries() -> None:
    log = RaftLog(entries=entries(1, 1, 2, 2))
    log.compact(Snapshot(2, 1, b"state"))
    assert log.first_index == 3 and log.term_at(2) == 1 and log.term_at(1) is None
    restored = RaftLog(Snapshot(2, 1, b"state"), entries(1, 1, 2, 2))
    assert restored.first_index == 3 and restored.last_index == 4


def test_a_persisted_log_with_a_gap_is_refused() -> None:
    with pytest.raises(RaftLogError):
        RaftLog(entries=[Entry(1, 1), Entry(3, 1)])
    with pytest.raises(RaftLogError):
        RaftLog(entries=[Entry(1, 2), Entry(2, 1)])


def test_conflict_hints() -> None:
    log = RaftLog(entries=entries(1, 2, 2, 2, 3))
    assert log.first_index_of_term(4, floor_index=1) == 2
    assert log.first_index_of_term(4, floor_index=3) == 3
    assert log.last_index_of_term(2, at_most=5) == 4
    assert log.last_index_of_term(4, at_most=5) is None
