"""The "consumer" group protocol's payloads: subscriptions and assignments.

JoinGroup carries each member's subscription and SyncGroup each member's
assignment as opaque bytes; the broker never looks inside. Consumer clients
(ours, librdkafka, kafka-python, aiokafka, flowlog_streams) agree on this layout:

    ConsumerProtocolSubscription        ConsumerProtocolAssignment
      version           int16             version              int16
      topics            [string]          assigned_partitions  [topic string, [int32]]
      user_data         nullable bytes    user_data            nullable bytes
      owned_partitions  [topic, [int32]]  (v1+)
      generation_id     int32             (v2+, default -1)
      rack_id           nullable string   (v3+)

Encoding is Kafka's classic, non-flexible one: int16 string lengths, int32
array and bytes lengths, -1 for null.

Why a dedicated codec instead of the message DSL: the DSL describes API
messages (key, request and response, header rules) while these payloads carry
their own version prefix and follow a different compatibility rule. A reader
must accept versions newer than it knows by reading the fields it knows and
ignoring the rest; a payload that ends early is an error. A small reader and
writer over `struct` state that rule more plainly than bending the DSL to it.
Decoding errors are DecodeErrors, encoding errors EncodeErrors, as in the codec.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable
from typing import Final

import attrs

from flowlog.protocol.errors import DecodeError, EncodeError

PROTOCOL_TYPE: Final = "consumer"
# The newest payload version this module knows; readers accept newer ones.
LATEST_VERSION: Final = 3
NO_GENERATION_ID: Final = -1

_OWNED_PARTITIONS_SINCE: Final = 1
_GENERATION_ID_SINCE: Final = 2
_RACK_ID_SINCE: Final = 3

_INT16: Final = struct.Struct(">h")
_INT32: Final = struct.Struct(">i")
_INT16_MAX: Final = 0x7FFF
_NULL_LENGTH: Final = -1


class InvalidConsumerProtocolPayload(DecodeError):
    """Bytes that do not form a consumer-protocol subscription or assignment."""


def _strings(values: Iterable[str]) -> tuple[str, ...]:
    return tuple(values)


def _partitions(values: Iterable[int]) -> tuple[int, ...]:
    return tuple(values)


@attrs.frozen(slots=True)
class TopicPartitions:
    """One topic and some of its partitions (Kafka's `TopicPartition` struct)."""

    topic: str
    partitions: tuple[int, ...] = attrs.field(default=(), converter=_partitions)


def _topic_partitions_list(values: Iterable[TopicPartitions]) -> tuple[TopicPartitions, ...]:
    return tuple(values)


@attrs.frozen(slots=True)
class Subscription:
    """What a member asks for. `version` is the payload version as read or to write."""

    topics: tuple[str, ...] = attrs.field(converter=_strings)
    user_data: bytes | None = None
    owned_partitions: tuple[TopicPartitions, ...] = attrs.field(
        default=(), converter=_topic_partitions_list
    )
    generation_id: int = NO_GENERATION_ID
    rack_id: str | None = None
    version: int = LATEST_VERSION


@attrs.frozen(slots=True)
class Assignment:
    """What the leader hands a member. `version` is the payload version as read or to write."""

    assigned_partitions: tuple[TopicPartitions, ...] = attrs.field(converter=_topic_partitions_list)
    user_data: bytes | None = None
    version: int = LATEST_VERSION


# ---------------------------------------------------------------- encoding


def encode_subscription(subscription: Subscription) -> bytes:
    """Bytes of `subscription` at its `version`; fields newer than that version are dropped.

    Dropping matches Kafka: every field added after v0 is "ignorable".
    """
    version = _checked_write_version(subscription.version)
    writer = _Writer()
    writer.int16(version)
    writer.array_length(len(subscription.topics))
    for topic in subscription.topics:
        writer.string(topic)
    writer.nullable_bytes(subscription.user_data)
    if version >= _OWNED_PARTITIONS_SINCE:
        writer.topic_partitions_list(subscription.owned_partitions)
    if version >= _GENERATION_ID_SINCE:
        writer.int32(subscription.generation_id)
    if version >= _RACK_ID_SINCE:
        writer.nullable_string(subscription.rack_id)
    return writer.getvalue()


def encode_assignment(assignment: Assignment) -> bytes:
    """Bytes of `assignment` at its `version` (v0-v3 share one layout)."""
    version = _checked_write_version(assignment.version)
    writer = _Writer()
    writer.int16(version)
    writer.topic_partitions_list(assignment.assigned_partitions)
    writer.nullable_bytes(assignment.user_data)
    return writer.getvalue()


def _checked_write_version(version: int) -> int:
    # We can't write a newer version: we don't know what its extra fields are.
    if not 0 <= version <= LATEST_VERSION:
        raise EncodeError(f"consumer protocol version {version} is not in 0-{LATEST_VERSION}")
    return version


class _Writer:
    def __init__(self) -> None:
        self._parts: list[bytes] = []

    def getvalue(self) -> bytes:
        return b"".join(self._parts)

    def int16(self, value: int) -> None:
        self._parts.append(_pack(_INT16, value))

    def int32(self, value: int) -> None:
        self._parts.append(_pack(_INT32, value))

    def array_length(self, count: int) -> None:
        self.int32(count)

    def string(self, value: str) -> None:
        encoded = value.encode("utf-8")
        if len(encoded) > _INT16_MAX:
            raise EncodeError(f"string of {len(encoded)} bytes exceeds the int16 length limit")
        self.int16(len(encoded))
        self._parts.append(encoded)

    def nullable_string(self, value: str | None) -> None:
        if value is None:
            self.int16(_NULL_LENGTH)
        else:
            self.string(value)

    def nullable_bytes(self, value: bytes | None) -> None:
        if value is None:
            self.int32(_NULL_LENGTH)
            return
        self.int32(len(value))
        self._parts.append(bytes(value))

    def topic_partitions_list(self, entries: tuple[TopicPartitions, ...]) -> None:
        self.array_length(len(entries))
        for entry in entries:
            self.string(entry.topic)
            self.array_length(len(entry.partitions))
            for partition in entry.partitions:
                self.int32(partition)


def _pack(layout: struct.Struct, value: int) -> bytes:
    try:
        return layout.pack(value)
    except struct.error as error:
        raise EncodeError(f"{value!r} does not fit the wire type: {error}") from error


# ---------------------------------------------------------------- decoding


def decode_subscription(payload: bytes | bytearray | memoryview) -> Subscription:
    """Parse a subscription; a version above LATEST_VERSION is read as LATEST_VERSION.

    Raises InvalidConsumerProtocolPayload on a negative version, a payload that
    ends early, a null where null is not allowed, or a string that is not UTF-8.
    """
    reader = _Reader(payload)
    version = reader.version()
    topics = tuple(reader.string() for _ in range(reader.array_length(minimum_item_size=2)))
    user_data = reader.nullable_bytes()
    owned_partitions: tuple[TopicPartitions, ...] = ()
    generation_id = NO_GENERATION_ID
    rack_id = None
    if version >= _OWNED_PARTITIONS_SINCE:
        owned_partitions = reader.topic_partitions_list()
    if version >= _GENERATION_ID_SINCE:
        generation_id = reader.int32()
    if version >= _RACK_ID_SINCE:
        rack_id = reader.nullable_string()
    return Subscription(
        topics=topics,
        user_data=user_data,
        owned_partitions=owned_partitions,
        generation_id=generation_id,
        rack_id=rack_id,
        version=version,
    )


def decode_assignment(payload: bytes | bytearray | memoryview) -> Assignment:
    """Parse an assignment; a version above LATEST_VERSION is read as LATEST_VERSION.

    An empty payload is an error here; callers that treat "no assignment bytes"
    as an empty assignment (as some clients do after a failed sync) check first.
    """
    reader = _Reader(payload)
    version = reader.version()
    assigned_partitions = reader.topic_partitions_list()
    user_data = reader.nullable_bytes()
    return Assignment(assigned_partitions=assigned_partitions, user_data=user_data, version=version)


class _Reader:
    """Reads big-endian primitives from a payload; bytes left at the end are ignored."""

    def __init__(self, payload: bytes | bytearray | memoryview) -> None:
        self._view = memoryview(payload).cast("B")
        self._position = 0

    def _take(self, size_bytes: int, what: str) -> memoryview:
        end = self._position + size_bytes
        if end > len(self._view):
            raise InvalidConsumerProtocolPayload(
                f"payload ends at byte {len(self._view)} while reading {what} "
                f"({size_bytes} bytes at {self._position})"
            )
        chunk = self._view[self._position : end]
        self._position = end
        return chunk

    def int16(self, what: str = "int16") -> int:
        value: int = _INT16.unpack(self._take(_INT16.size, what))[0]
        return value

    def int32(self, what: str = "int32") -> int:
        value: int = _INT32.unpack(self._take(_INT32.size, what))[0]
        return value

    def version(self) -> int:
        version = self.int16("version")
        if version < 0:
            raise InvalidConsumerProtocolPayload(f"negative consumer protocol version {version}")
        return version

    def array_length(self, minimum_item_size: int) -> int:
        count = self.int32("array length")
        if count < 0:
            raise InvalidConsumerProtocolPayload(f"array length {count} where null is not allowed")
        # Bound the loop by the bytes actually present, so a forged count can't spin.
        remaining = len(self._view) - self._position
        if count * minimum_item_size > remaining:
            raise InvalidConsumerProtocolPayload(
                f"array of {count} items can't fit in the {remaining} bytes left"
            )
        return count

    def nullable_string(self) -> str | None:
        length = self.int16("string length")
        if length == _NULL_LENGTH:
            return None
        if length < 0:
            raise InvalidConsumerProtocolPayload(f"invalid string length {length}")
        try:
            return str(self._take(length, "string"), "utf-8")
        except UnicodeDecodeError as error:
            raise InvalidConsumerProtocolPayload(f"string is not UTF-8: {error}") from error

    def string(self) -> str:
        value = self.nullable_string()
        if value is None:
            raise InvalidConsumerProtocolPayload("null string where null is not allowed")
        return value

    def nullable_bytes(self) -> bytes | None:
        length = self.int32("bytes length")
        if length == _NULL_LENGTH:
            return None
        if length < 0:
            raise InvalidConsumerProtocolPayload(f"invalid bytes length {length}")
        return bytes(self._take(length, "bytes"))

    def topic_partitions_list(self) -> tuple[TopicPartitions, ...]:
        # A topic entry is at least a string length and an array length.
        count = self.array_length(minimum_item_size=_INT16.size + _INT32.size)
        entries = []
        for _ in range(count):
            topic = self.string()
            partition_count = self.array_length(minimum_item_size=_INT32.size)
            partitions = tuple(self.int32("partition") for _ in range(partition_count))
            entries.append(TopicPartitions(topic=topic, partitions=partitions))
        return tuple(entries)
