"""Cluster metadata records: one frozen class per change, and their byte encoding.

Every metadata change is one of these records. The controller core emits them, the
metadata log stores them, and MetadataState.replay() is the only code that applies them.
An encoded record is a JSON object {"type": tag, "version": v, "data": {...}}; bytes
fields (topic ids, incarnation ids) are lowercase hex. Tags and versions are ours, never
reused: a record's meaning changes only with a new version.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from typing import Any

import attrs
import cattrs
import orjson

UUID_SIZE_BYTES = 16
NO_LEADER = -1
# One apply() is one atomic log entry; bounding it bounds an entry's size.
RECORDS_PER_BATCH_MAX = 100_000


class MetadataRecordError(ValueError):
    """Bytes that are not a valid encoded metadata record (unknown type, garbage, bad field)."""


class ConfigResourceType(enum.IntEnum):
    """Kafka's ConfigResource type codes, so the broker can pass them through."""

    TOPIC = 2
    BROKER = 4


def _check_uuid(instance: object, attribute: attrs.Attribute[bytes], value: bytes) -> None:
    if not isinstance(value, bytes) or len(value) != UUID_SIZE_BYTES:
        raise ValueError(f"{attribute.name} must be {UUID_SIZE_BYTES} bytes, got {value!r}")


def _check_broker_ids(
    instance: object, attribute: attrs.Attribute[Any], value: tuple[int, ...] | None
) -> None:
    if value is None:
        return
    if any(not isinstance(broker, int) or broker < 0 for broker in value):
        raise ValueError(f"{attribute.name} must hold broker ids >= 0, got {value!r}")
    if len(set(value)) != len(value):
        raise ValueError(f"{attribute.name} has a duplicate broker id: {value!r}")


def _check_non_negative(instance: object, attribute: attrs.Attribute[int], value: int) -> None:
    if value < 0:
        raise ValueError(f"{attribute.name} must be >= 0, got {value}")


def _check_leader(instance: object, attribute: attrs.Attribute[Any], value: int | None) -> None:
    if value is not None and value < NO_LEADER:
        raise ValueError(f"{attribute.name} must be a broker id or {NO_LEADER}, got {value}")


@attrs.frozen
class RegisterBrokerRecord:
    """A broker (re)joined; a new incarnation id means the process restarted."""

    node_id: int = attrs.field(validator=_check_non_negative)
    host: str
    port: int
    rack: str | None
    incarnation_id: bytes = attrs.field(validator=_check_uuid)


@attrs.frozen
class UnregisterBrokerRecord:
    node_id: int = attrs.field(validator=_check_non_negative)


@attrs.frozen
class FenceBrokerRecord:
    """The broker missed its session (or shut down): it leads nothing until unfenced."""

    node_id: int = attrs.field(validator=_check_non_negative)


@attrs.frozen
class UnfenceBrokerRecord:
    """A fenced broker heartbeats again: it may lead and join ISRs."""

    node_id: int = attrs.field(validator=_check_non_negative)


@attrs.frozen
class TopicRecord:
    name: str
    topic_id: bytes = attrs.field(validator=_check_uuid)


@attrs.frozen
class PartitionRecord:
    """A new partition with its whole initial assignment."""

    topic_id: bytes = attrs.field(validator=_check_uuid)
    partition: int = attrs.field(validator=_check_non_negative)
    replicas: tuple[int, ...] = attrs.field(validator=_check_broker_ids)
    isr: tuple[int, ...] = attrs.field(validator=_check_broker_ids)
    leader: int = attrs.field(validator=_check_leader)
    leader_epoch: int = attrs.field(validator=_check_non_negative)
    partition_epoch: int = attrs.field(validator=_check_non_negative)


@attrs.frozen
class PartitionChangeRecord:
    """A change to one partition; None keeps a field.

    Replay bumps partition_epoch always and leader_epoch whenever `leader` is set, so
    the controller sets `leader` only when leadership really changes (or must be fenced).
    """

    topic_id: bytes = attrs.field(validator=_check_uuid)
    partition: int = attrs.field(validator=_check_non_negative)
    leader: int | None = attrs.field(default=None, validator=_check_leader)
    isr: tuple[int, ...] | None = attrs.field(default=None, validator=_check_broker_ids)
    replicas: tuple[int, ...] | None = attrs.field(default=None, validator=_check_broker_ids)


@attrs.frozen
class RemoveTopicRecord:
    topic_id: bytes = attrs.field(validator=_check_uuid)


@attrs.frozen
class ConfigRecord:
    """Set (value) or delete (None) one config override of a topic or a broker.

    A broker resource name is a broker id in decimal, or "" for the cluster-wide default.
    """

    resource_type: ConfigResourceType
    resource_name: str
    name: str
    value: str | None


@attrs.frozen
class ProducerIdsRecord:
    """A block of producer ids went to `broker_id`; `next_producer_id` is the block's end."""

    broker_id: int = attrs.field(validator=_check_non_negative)
    next_producer_id: int = attrs.field(validator=_check_non_negative)


MetadataRecord = (
    RegisterBrokerRecord
    | UnregisterBrokerRecord
    | TopicRecord
    | PartitionRecord
    | PartitionChangeRecord
    | RemoveTopicRecord
    | ConfigRecord
    | ProducerIdsRecord
    | FenceBrokerRecord
    | UnfenceBrokerRecord
)

# (type tag, newest version) per class. Never renumber a tag.
RECORD_TYPES: dict[type[Any], tuple[int, int]] = {
    RegisterBrokerRecord: (1, 0),
    UnregisterBrokerRecord: (2, 0),
    TopicRecord: (3, 0),
    PartitionRecord: (4, 0),
    PartitionChangeRecord: (5, 0),
    RemoveTopicRecord: (6, 0),
    ConfigRecord: (7, 0),
    ProducerIdsRecord: (8, 0),
    FenceBrokerRecord: (9, 0),
    UnfenceBrokerRecord: (10, 0),
}
RECORD_CLASSES_BY_TAG: dict[int, type[Any]] = {tag: cls for cls, (tag, _) in RECORD_TYPES.items()}


def _structure_int(value: object, _: type) -> int:
    # cattrs would accept "5" or 5.7; a record field is an exact JSON integer or garbage.
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"expected an integer, got {value!r}")
    return value


def _structure_str(value: object, _: type) -> str:
    if not isinstance(value, str):
        raise ValueError(f"expected a string, got {value!r}")
    return value


def _structure_bytes(value: object, _: type) -> bytes:
    if not isinstance(value, str):
        raise ValueError(f"expected hex bytes, got {value!r}")
    return bytes.fromhex(value)


def _structure_resource_type(value: object, _: type) -> ConfigResourceType:
    return ConfigResourceType(_structure_int(value, int))


def _make_converter() -> cattrs.Converter:
    # Extra keys mean garbage or a newer writer: refuse rather than drop data silently.
    converter = cattrs.Converter(forbid_extra_keys=True)
    converter.register_structure_hook(int, _structure_int)
    converter.register_structure_hook(ConfigResourceType, _structure_resource_type)
    converter.register_structure_hook(str, _structure_str)
    converter.register_structure_hook(bytes, _structure_bytes)
    converter.register_unstructure_hook(bytes, bytes.hex)
    return converter


_CONVERTER = _make_converter()


def record_to_document(record: MetadataRecord) -> dict[str, Any]:
    """The JSON-ready form of one record."""
    tag, version = RECORD_TYPES[type(record)]
    return {"type": tag, "version": version, "data": _CONVERTER.unstructure(record)}


def record_from_document(document: object) -> MetadataRecord:
    """Inverse of record_to_document; MetadataRecordError names what is wrong."""
    if not isinstance(document, dict) or set(document) != {"type", "version", "data"}:
        raise MetadataRecordError(f"not a metadata record document: {document!r:.200}")
    tag, version = document["type"], document["version"]
    record_class = RECORD_CLASSES_BY_TAG.get(tag) if isinstance(tag, int) else None
    if record_class is None:
        raise MetadataRecordError(f"unknown metadata record type {tag!r}")
    newest_version = RECORD_TYPES[record_class][1]
    if not isinstance(version, int) or not 0 <= version <= newest_version:
        raise MetadataRecordError(
            f"{record_class.__name__} version {version!r} is not in [0, {newest_version}]"
        )
    try:
        record: MetadataRecord = _CONVERTER.structure(document["data"], record_class)
    except (cattrs.BaseValidationError, ValueError, TypeError, KeyError) as error:
        raise MetadataRecordError(
            f"bad {record_class.__name__}: {_describe(error)}"
        ) from error
    return record


def _describe(error: Exception) -> str:
    if not isinstance(error, cattrs.BaseValidationError):
        return str(error)
    return "; ".join(cattrs.transform_error(error, format_exception=_describe_leaf))


def _describe_leaf(exception: BaseException, _: type | None) -> str:
    if isinstance(exception, KeyError):
        return "missing field"
    return str(exception)


def encode_record(record: MetadataRecord) -> bytes:
    return orjson.dumps(record_to_document(record))


def decode_record(data: bytes) -> MetadataRecord:
    return record_from_document(_parse_json(data))


def encode_record_batch(records: Sequence[MetadataRecord]) -> bytes:
    """Several records as one payload: the unit the metadata log writes atomically."""
    if not 1 <= len(records) <= RECORDS_PER_BATCH_MAX:
        raise ValueError(f"a batch holds 1 to {RECORDS_PER_BATCH_MAX} records, got {len(records)}")
    return orjson.dumps([record_to_document(record) for record in records])


def decode_record_batch(data: bytes) -> list[MetadataRecord]:
    documents = _parse_json(data)
    if not isinstance(documents, list) or not 1 <= len(documents) <= RECORDS_PER_BATCH_MAX:
        raise MetadataRecordError(f"not a metadata record batch: {data[:200]!r}")
    return [record_from_document(document) for document in documents]


def _parse_json(data: bytes) -> object:
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError as error:
        raise MetadataRecordError(f"metadata record is not valid JSON: {error}") from error
