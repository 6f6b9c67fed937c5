"""A compact, versioned binary encoding of Raft messages, for the TCP transport.

Layout, big-endian: a header, then the kind's fields.

    header      version u8 (1), kind u8, sender i32, recipient i32, term i64
    1 VoteRequest       pre_vote u8, last_log_index i64, last_log_term i64
    2 VoteResponse      pre_vote u8, granted u8
    3 AppendRequest     prev_log_index i64, prev_log_term i64, leader_commit i64,
                        entry count u32, entries
                          entry: index i64, term i64, kind u8, payload size u32, payload
    4 AppendResponse    success u8, match_index i64, rejected_index i64,
                        conflict_term i64, conflict_index i64
    5 SnapshotRequest   index i64, term i64, data size u64, data
    6 HeartbeatRequest  commit i64
    7 HeartbeatResponse (nothing)

decode() accepts exactly what encode() writes: a frame that is short, long, of an
unknown version or kind, or holds a boolean other than 0/1 raises RaftDecodeError.
Framing (length prefixes) belongs to the transport.
"""

from __future__ import annotations

import struct
from collections.abc import Callable

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

CODEC_VERSION = 1
HEADER = struct.Struct(">BBiiq")
VOTE_REQUEST = struct.Struct(">Bqq")
VOTE_RESPONSE = struct.Struct(">BB")
APPEND_REQUEST = struct.Struct(">qqqI")
ENTRY_HEADER = struct.Struct(">qqBI")
APPEND_RESPONSE = struct.Struct(">Bqqqq")
SNAPSHOT_HEADER = struct.Struct(">qqQ")
HEARTBEAT_REQUEST = struct.Struct(">q")

KIND_BY_TYPE: dict[type, int] = {
    VoteRequest: 1,
    VoteResponse: 2,
    AppendRequest: 3,
    AppendResponse: 4,
    SnapshotRequest: 5,
    HeartbeatRequest: 6,
    HeartbeatResponse: 7,
}


class RaftDecodeError(ValueError):
    """Bytes that are not one encoded Raft message of a version we read."""


def encode(message: Message) -> bytes:
    kind = KIND_BY_TYPE[type(message)]
    parts = [HEADER.pack(CODEC_VERSION, kind, message.sender, message.recipient, message.term)]
    if isinstance(message, VoteRequest):
        parts.append(
            VOTE_REQUEST.pack(message.pre_vote, message.last_log_index, message.last_log_term)
        )
    elif isinstance(message, VoteResponse):
        parts.append(VOTE_RESPONSE.pack(message.pre_vote, message.granted))
    elif isinstance(message, AppendRequest):
        parts.append(
            APPEND_REQUEST.pack(
                message.prev_log_index,
                message.prev_log_term,
                message.leader_commit,
                len(message.entries),
            )
        )
        for entry in message.entries:
            parts.append(ENTRY_HEADER.pack(entry.index, entry.term, entry.kind, len(entry.payload)))
            parts.append(entry.payload)
    elif isinstance(message, AppendResponse):
        parts.append(
            APPEND_RESPONSE.pack(
                message.success,
                message.match_index,
                message.rejected_index,
                message.conflict_term,
                message.conflict_index,
            )
        )
    elif isinstance(message, SnapshotRequest):
        snapshot = message.snapshot
        parts.append(SNAPSHOT_HEADER.pack(snapshot.index, snapshot.term, len(snapshot.data)))
        parts.append(snapshot.data)
    elif isinstance(message, HeartbeatRequest):
        parts.append(HEARTBEAT_REQUEST.pack(message.commit))
    return b"".join(parts)


class _Reader:
    def __init__(self, data: bytes | bytearray | memoryview) -> None:
        self._view = memoryview(data)
        self._position = 0

    def unpack(self, layout: struct.Struct) -> tuple[int, ...]:
        end = self._position + layout.size
        if end > len(self._view):
            raise RaftDecodeError(f"frame ends at byte {len(self._view)}, inside a field")
        values = layout.unpack_from(self._view, self._position)
        self._position = end
        return values

    def take(self, size_bytes: int) -> bytes:
        end = self._position + size_bytes
        if end > len(self._view):
            raise RaftDecodeError(f"{size_bytes} bytes announced, {self.remaining} left")
        data = bytes(self._view[self._position : end])
        self._position = end
        return data

    @property
    def remaining(self) -> int:
        return len(self._view) - self._position


def _flag(value: int) -> bool:
    if value not in (0, 1):
        raise RaftDecodeError(f"boolean field holds {value}")
    return value == 1


def decode(data: bytes | bytearray | memoryview) -> Message:
    reader = _Reader(data)
    version, kind, sender, recipient, term = reader.unpack(HEADER)
    if version != CODEC_VERSION:
        raise RaftDecodeError(f"codec version {version}; this node reads {CODEC_VERSION}")
    decode_body = _DECODERS.get(kind)
    if decode_body is None:
        raise RaftDecodeError(f"unknown message kind {kind}")
    message = decode_body(reader, sender, recipient, term)
    if reader.remaining:
        raise RaftDecodeError(f"{reader.remaining} bytes after the message")
    return message


def _decode_vote_request(reader: _Reader, sender: int, recipient: int, term: int) -> Message:
    pre_vote, last_log_index, last_log_term = reader.unpack(VOTE_REQUEST)
    return VoteRequest(sender, recipient, term, _flag(pre_vote), last_log_index, last_log_term)


def _decode_vote_response(reader: _Reader, sender: int, recipient: int, term: int) -> Message:
    pre_vote, granted = reader.unpack(VOTE_RESPONSE)
    return VoteResponse(sender, recipient, term, _flag(pre_vote), _flag(granted))


def _decode_append_request(reader: _Reader, sender: int, recipient: int, term: int) -> Message:
    prev_log_index, prev_log_term, leader_commit, count = reader.unpack(APPEND_REQUEST)
    # Each entry takes at least its header: a huge count in a short frame fails here.
    if count * ENTRY_HEADER.size > reader.remaining:
        raise RaftDecodeError(f"{count} entries cannot fit in {reader.remaining} bytes")
    entries = []
    for _ in range(count):
        index, entry_term, kind, size_bytes = reader.unpack(ENTRY_HEADER)
        if kind not in EntryKind._value2member_map_:
            raise RaftDecodeError(f"unknown entry kind {kind}")
        entries.append(Entry(index, entry_term, reader.take(size_bytes), EntryKind(kind)))
    return AppendRequest(
        sender, recipient, term, prev_log_index, prev_log_term, tuple(entries), leader_commit
    )


def _decode_append_response(reader: _Reader, sender: int, recipient: int, term: int) -> Message:
    success, match_index, rejected_index, conflict_term, conflict_index = reader.unpack(
        APPEND_RESPONSE
    )
    return AppendResponse(
        sender,
        recipient,
        term,
        _flag(success),
        match_index,
        rejected_index,
        conflict_term,
        conflict_index,
    )


def _decode_snapshot_request(reader: _Reader, sender: int, recipient: int, term: int) -> Message:
    index, snapshot_term, size_bytes = reader.unpack(SNAPSHOT_HEADER)
    return SnapshotRequest(
        sender, recipient, term, Snapshot(index, snapshot_term, reader.take(size_bytes))
    )


def _decode_heartbeat_request(reader: _Reader, sender: int, recipient: int, term: int) -> Message:
    (commit,) = reader.unpack(HEARTBEAT_REQUEST)
    return HeartbeatRequest(sender, recipient, term, commit)


def _decode_heartbeat_response(reader: _Reader, sender: int, recipient: int, term: int) -> Message:
    return HeartbeatResponse(sender, recipient, term)


_DECODERS: dict[int, Callable[[_Reader, int, int, int], Message]] = {
    1: _decode_vote_request,
    2: _decode_vote_response,
    3: _decode_append_request,
    4: _decode_append_response,
    5: _decode_snapshot_request,
    6: _decode_heartbeat_request,
    7: _decode_heartbeat_response,
}
