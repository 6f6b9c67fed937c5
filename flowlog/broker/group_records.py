"""Keys and values the group coordinator writes to the compacted topic __consumer_offsets.

The format is ours (no client reads it), big-endian and versioned:

    key    = key_type int16, then
               OFFSET (0): group_id string, topic string, partition int32
               GROUP  (1): group_id string
    value  = version int16, then the fields of OffsetValue or GroupValue below

Strings carry an int16 length (-1 = null), bytes an int32 length. A null value
(tombstone) deletes the key: compaction drops it, and replay forgets it.
A reader accepts a value version newer than it knows by reading the fields it
knows and ignoring the rest, so new fields must only ever be appended.
The key bytes of one logical key never change: compaction depends on it.
"""

from __future__ import annotations

import struct
from typing import Final

import attrs

OFFSETS_TOPIC: Final = "__consumer_offsets"

OFFSET_KEY_TYPE: Final = 0
GROUP_KEY_TYPE: Final = 1
OFFSET_VALUE_VERSION: Final = 0
GROUP_VALUE_VERSION: Final = 0
NO_TIMESTAMP: Final = -1

_INT16: Final = struct.Struct(">h")
_INT32: Final = struct.Struct(">i")
_INT64: Final = struct.Struct(">q")
_STRING_LENGTH_MAX: Final = 0x7FFF
# Bound on members decoded from one group value: a corrupt count must not allocate wildly.
MEMBERS_PER_RECORD_MAX: Final = 100_000


class CorruptGroupRecord(ValueError):
    """Bytes from __consumer_offsets that do not decode as one of our keys or values."""


@attrs.frozen
class Record:
    """One record to append to __consumer_offsets; value None is a tombstone."""

    key: bytes
    value: bytes | None


@attrs.frozen
class OffsetKey:
    group_id: str
    topic: str
    partition: int


@attrs.frozen
class GroupKey:
    group_id: str


@attrs.frozen
class OffsetValue:
    offset: int
    leader_epoch: int
    metadata: str
    commit_timestamp_ms: int
    # NO_TIMESTAMP unless the commit (OffsetCommit v2-v4) asked for its own retention.
    expire_timestamp_ms: int = NO_TIMESTAMP


@attrs.frozen
class MemberValue:
    member_id: str
    group_instance_id: str | None
    client_id: str
    client_host: str
    rebalance_timeout_ms: int
    session_timeout_ms: int
    # The member's metadata for the group's chosen protocol only, as Kafka keeps it.
    subscription: bytes
    assignment: bytes


@attrs.frozen
class GroupValue:
    protocol_type: str | None
    generation_id: int
    protocol_name: str | None
    leader_id: str | None
    state_timestamp_ms: int
    members: tuple[MemberValue, ...] = ()


# ---------------------------------------------------------------- encoding


class _Writer:
    def __init__(self) -> None:
        self._parts: list[bytes] = []

    def getvalue(self) -> bytes:
        return b"".join(self._parts)

    def int16(self, value: int) -> None:
        self._parts.append(_INT16.pack(value))

    def int32(self, value: int) -> None:
        self._parts.append(_INT32.pack(value))

    def int64(self, value: int) -> None:
        self._parts.append(_INT64.pack(value))

    def string(self, value: str | None) -> None:
        if value is None:
            self.int16(-1)
            return
        encoded = value.encode("utf-8")
        if len(encoded) > _STRING_LENGTH_MAX:
            raise ValueError(f"string of {len(encoded)} bytes is too long for a group record")
        self.int16(len(encoded))
        self._parts.append(encoded)

    def bytes_field(self, value: bytes) -> None:
        self.int32(len(value))
        self._parts.append(bytes(value))


def encode_key(key: OffsetKey | GroupKey) -> bytes:
    writer = _Writer()
    if isinstance(key, OffsetKey):
        writer.int16(OFFSET_KEY_TYPE)
        writer.string(key.group_id)
        writer.string(key.topic)
        writer.int32(key.partition)
    else:
        writer.int16(GROUP_KEY_TYPE)
        writer.string(key.group_id)
    return writer.getvalue()


def encode_offset_value(value: OffsetValue) -> bytes:
    writer = _Writer()
    writer.int16(OFFSET_VALUE_VERSION)
    writer.int64(value.offset)
    writer.int32(value.leader_epoch)
    writer.string(value.metadata)
    writer.int64(value.commit_timestamp_ms)
    writer.int64(value.expire_timestamp_ms)
    return writer.getvalue()


def encode_group_value(value: GroupValue) -> bytes:
    writer = _Writer()
    writer.int16(GROUP_VALUE_VERSION)
    writer.string(value.protocol_type)
    writer.int32(value.generation_id)
    writer.string(value.protocol_name)
    writer.string(value.leader_id)
    writer.int64(value.state_timestamp_ms)
    writer.int32(len(value.members))
    for member in value.members:
        writer.string(member.member_id)
        writer.string(member.group_instance_id)
        writer.string(member.client_id)
        writer.string(member.client_host)
        writer.int32(member.rebalance_timeout_ms)
        writer.int32(member.session_timeout_ms)
        writer.bytes_field(member.subscription)
        writer.bytes_field(member.assignment)
    return writer.getvalue()


def offset_record(key: OffsetKey, value: OffsetValue | None) -> Record:
    return Record(encode_key(key), None if value is None else encode_offset_value(value))


def group_record(key: GroupKey, value: GroupValue | None) -> Record:
    return Record(encode_key(key), None if value is None else encode_group_value(value))


# ---------------------------------------------------------------- decoding


class _Reader:
    def __init__(self, payload: bytes) -> None:
        self._view = memoryview(payload)
        self._position = 0

    def _take(self, size_bytes: int) -> memoryview:
        end = self._position + size_bytes
        if size_bytes < 0 or end > len(self._view):
            raise CorruptGroupRecord("group record ends early")
        chunk = self._view[self._position : end]
        self._position = end
        return chunk

    def int16(self) -> int:
        return int(_INT16.unpack(self._take(2))[0])

    def int32(self) -> int:
        return int(_INT32.unpack(self._take(4))[0])

    def int64(self) -> int:
        return int(_INT64.unpack(self._take(8))[0])

    def nullable_string(self) -> str | None:
        length = self.int16()
        if length == -1:
            return None
        try:
            return bytes(self._take(length)).decode("utf-8")
        except UnicodeDecodeError as error:
            raise CorruptGroupRecord(f"group record string is not UTF-8: {error}") from None

    def string(self) -> str:
        value = self.nullable_string()
        if value is None:
            raise CorruptGroupRecord("null where a group record needs a string")
        return value

    def bytes_field(self) -> bytes:
        return bytes(self._take(self.int32()))

    def at_end(self) -> bool:
        return self._position == len(self._view)


def decode_key(payload: bytes) -> OffsetKey | GroupKey:
    reader = _Reader(payload)
    key_type = reader.int16()
    if key_type == OFFSET_KEY_TYPE:
        key: OffsetKey | GroupKey = OffsetKey(reader.string(), reader.string(), reader.int32())
    elif key_type == GROUP_KEY_TYPE:
        key = GroupKey(reader.string())
    else:
        raise CorruptGroupRecord(f"unknown group record key type {key_type}")
    if not reader.at_end():
        raise CorruptGroupRecord("trailing bytes after a group record key")
    return key


def _version(reader: _Reader) -> int:
    version = reader.int16()
    if version < 0:
        raise CorruptGroupRecord(f"negative group record version {version}")
    return version


def decode_offset_value(payload: bytes) -> OffsetValue:
    reader = _Reader(payload)
    _version(reader)
    return OffsetValue(
        offset=reader.int64(),
        leader_epoch=reader.int32(),
        metadata=reader.string(),
        commit_timestamp_ms=reader.int64(),
        expire_timestamp_ms=reader.int64(),
    )


def decode_group_value(payload: bytes) -> GroupValue:
    reader = _Reader(payload)
    _version(reader)
    protocol_type = reader.nullable_string()
    generation_id = reader.int32()
    protocol_name = reader.nullable_string()
    leader_id = reader.nullable_string()
    state_timestamp_ms = reader.int64()
    count = reader.int32()
    if not 0 <= count <= MEMBERS_PER_RECORD_MAX:
        raise CorruptGroupRecord(f"group record member count {count} out of range")
    members = tuple(
        MemberValue(
            member_id=reader.string(),
            group_instance_id=reader.nullable_string(),
            client_id=reader.string(),
            client_host=reader.string(),
            rebalance_timeout_ms=reader.int32(),
            session_timeout_ms=reader.int32(),
            subscription=reader.bytes_field(),
            assignment=reader.bytes_field(),
        )
        for _ in range(count)
    )
    return GroupValue(
        protocol_type=protocol_type,
        generation_id=generation_id,
        protocol_name=protocol_name,
        leader_id=leader_id,
        state_timestamp_ms=state_timestamp_ms,
        members=members,
    )
