"""The binary message encoding: round trips, and strictness on bad input."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from flowlog.raft.codec import CODEC_VERSION, RaftDecodeError, decode, encode
from flowlog.raft.messages import (
    AppendRequest,
    AppendResponse,
    Entry,
    EntryKind,
    HeartbeatRequest,
    HeartbeatResponse,
    Message,
    Snapshot,
    SnapshotRequest,
    VoteRequest,
    VoteResponse,
)

node_ids = st.integers(-(2**31), 2**31 - 1)
counters = st.integers(-(2**63), 2**63 - 1)
blobs = st.binary(max_size=64)
entries = st.builds(Entry, counters, counters, blobs, st.sampled_from(EntryKind))
snapshots = st.builds(Snapshot, counters, counters, blobs)

messages: st.SearchStrategy[Message] = st.one_of(
    st.builds(VoteRequest, node_ids, node_ids, counters, st.booleans(), counters, counters),
    st.builds(VoteResponse, node_ids, node_ids, counters, st.booleans(), st.booleans()),
    st.builds(
        AppendRequest,
        node_ids,
        node_ids,
        counters,
        counters,
        counters,
        st.lists(entries, max_size=5).map(tuple),
        counters,
    ),
    st.builds(
        AppendResponse, node_ids, node_ids, counters, st.booleans(), counters, counters,
        counters, counters,
    ),
    st.builds(SnapshotRequest, node_ids, node_ids, counters, snapshots),
    st.builds(HeartbeatRequest, node_ids, node_ids, counters, counters),
    st.builds(HeartbeatResponse, node_ids, node_ids, counters),
)


@given(messages)
def test_every_message_round_trips(message: Message) -> None:
    data = encode(message)
    assert data[0] == CODEC_VERSION
    assert decode(data) == message
    assert decode(memoryview(bytearray(data))) == message


@given(messages, st.data())
def test_a_cut_or_padded_frame_is_refused(message: Message, data: st.DataObject) -> None:
    encoded = encode(message)
    cut = data.draw(st.integers(0, len(encoded) - 1))
    with pytest.raises(RaftDecodeError):
        decode(encoded[:cut])
    with pytest.raises(RaftDecodeError):
        decode(encoded + b"\x00")


@given(st.binary(max_size=200))
def test_garbage_raises_only_the_decode_error(data: bytes) -> None:
    try:
        decode(data)
    except RaftDecodeError:
        pass


def test_unknown_versions_kinds_and_flags_are_refused() -> None:
    encoded = bytearray(encode(VoteResponse(1, 2, 3, True, False)))
    for position, value in [(0, CODEC_VERSION + 1), (1, 99), (len(encoded) - 1, 2)]:
        bad = bytearray(encoded)
        bad[position] = value
        with pytest.raises(RaftDecodeError):
            decode(bytes(bad))


def test_an_entry_count_larger_than_the_frame_is_refused_before_reading() -> None:
    encoded = bytearray(encode(AppendRequest(1, 2, 3, 0, 0, (), 0)))
    encoded[-4:] = (2**32 - 1).to_bytes(4, "big")
    with pytest.raises(RaftDecodeError, match="cannot fit"):
        decode(bytes(encoded))
