"""Produce (key 0), versions 3-9 served; 0-2 advertised for old librdkafka and refused.

librdkafka < 2.11.1 (kcat on Debian 12) enables gzip/snappy/lz4 only if Produce v0
is in the advertised range, so v0-2 are advertised as Kafka 4 does, and every
partition of such a request gets UNSUPPORTED_VERSION.
"""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING, Any

from flowlog.broker.connection import RequestContext
from flowlog.broker.group_records import OFFSETS_TOPIC
from flowlog.protocol.compression import Compression
from flowlog.protocol.errors import ErrorCode
from flowlog.protocol.messages.produce import ProduceResponse
from flowlog.protocol.record_batch import (
    ATTRIBUTES_AT,
    BATCH_HEADER_SIZE,
    BATCH_LENGTH_AT,
    BATCH_LENGTH_PREFIX_SIZE,
    COMPRESSION_MASK,
    MAGIC_AT,
    MIN_BATCH_LENGTH,
)

if TYPE_CHECKING:
    from flowlog.broker.broker import Broker

FIRST_SERVED_VERSION = 3
ZSTD_FIRST_VERSION = 7
VALID_ACKS = (-1, 0, 1)
# batch_length (int32), magic (int8) and attributes (int16) of a batch header.
_LENGTH_MAGIC_ATTRIBUTES = struct.Struct(
    f">{BATCH_LENGTH_AT}xi{MAGIC_AT - BATCH_LENGTH_AT - 4}xb{ATTRIBUTES_AT - MAGIC_AT - 1}xh"
)

PartitionResponse = ProduceResponse.PartitionProduceResponse
TopicResponse = ProduceResponse.TopicProduceResponse


def _error(index: int, code: ErrorCode, message: str | None = None) -> object:
    return PartitionResponse(
        index=index, error_code=code, base_offset=-1, log_append_time_ms=-1,
        log_start_offset=-1, error_message=message,
    )


def _single_batch_problem(records: bytes | memoryview | None, version: int) -> tuple[ErrorCode, str] | None:
    """Produce v3+ carries exactly one magic-2 batch per partition.

    Three header fields read with one unpack, no scan: the records hold exactly one batch iff the first
    batch's declared size (at least a header's) is all of them. Partition.append
    then checks the rest (CRC, counts, sequences, max.message.bytes).
    """
    if records is None or len(records) < BATCH_HEADER_SIZE:
        return ErrorCode.INVALID_RECORD, "a partition's records must hold one record batch"
    length, magic, attributes = _LENGTH_MAGIC_ATTRIBUTES.unpack_from(records)
    if length < MIN_BATCH_LENGTH or length + BATCH_LENGTH_PREFIX_SIZE != len(records):
        return ErrorCode.INVALID_RECORD, "Produce v3+ takes exactly one record batch per partition"
    if magic != 2:
        return ErrorCode.UNSUPPORTED_FOR_MESSAGE_FORMAT, f"record batch magic {magic} is not 2"
    compression = attributes & COMPRESSION_MASK
    if compression == Compression.ZSTD and version < ZSTD_FIRST_VERSION:
        return ErrorCode.UNSUPPORTED_COMPRESSION_TYPE, "zstd needs Produce v7 or later"
    if compression > Compression.ZSTD:
        return ErrorCode.UNSUPPORTED_COMPRESSION_TYPE, f"unknown codec {compression}"
    return None


async def handle_produce(broker: Broker, context: RequestContext, request: Any) -> object | None:
    version = context.header.api_version
    acks = request.acks
    now_ms = broker.clock_ms()
    topics = []
    touched = []
    # acks=all: partition -> (leader epoch of the append, offset after it), and where
    # its answer sits.
    required: dict[tuple[str, int], tuple[int, int]] = {}
    waiting: dict[tuple[str, int], tuple[list[object], int]] = {}
    for topic_data in request.topic_data:
        partitions: list[object] = []
        for partition_data in topic_data.partition_data:
            index = partition_data.index
            if version < FIRST_SERVED_VERSION:
                partitions.append(_error(index, ErrorCode.UNSUPPORTED_VERSION,
                                         "Produce v0-2 (message format 0/1) is not supported"))
                continue
            if acks not in VALID_ACKS:
                partitions.append(_error(index, ErrorCode.INVALID_REQUIRED_ACKS))
                continue
            if request.transactional_id is not None:
                partitions.append(_error(index, ErrorCode.TRANSACTIONAL_ID_AUTHORIZATION_FAILED,
                                         "transactions are not supported yet"))
                continue
            if topic_data.name == OFFSETS_TOPIC:
                # Only the group coordinator writes there (Kafka refuses it too).
                partitions.append(_error(index, ErrorCode.INVALID_TOPIC_EXCEPTION,
                                         f"cannot append to internal topic {OFFSETS_TOPIC}"))
                continue
            partition = await broker.partition_for_produce(topic_data.name, index)
            not_here = broker.leadership_error(topic_data.name, index)
            if partition is None or not_here is not None:
                # Produce v3-9 has no current-leader field: the client refreshes metadata.
                partitions.append(_error(index, not_here or ErrorCode.UNKNOWN_TOPIC_OR_PARTITION))
                continue
            problem = _single_batch_problem(partition_data.records, version)
            if problem is not None:
                partitions.append(_error(index, *problem))
                continue
            leader = partition.leader_core
            if leader is None:
                partitions.append(_error(index, ErrorCode.NOT_LEADER_OR_FOLLOWER))
                continue
            refused = leader.check_append(acks)
            if refused != ErrorCode.NONE:
                partitions.append(_error(index, refused))
                continue
            outcome = partition.append(partition_data.records, now_ms)
            if outcome.error == ErrorCode.NONE:
                touched.append(partition)
                if acks == -1:
                    # Answered once the high watermark passes the batch (see below).
                    key = (topic_data.name, index)
                    required[key] = (leader.leader_epoch, partition.log.log_end_offset)
                    waiting[key] = (partitions, len(partitions))
            partitions.append(PartitionResponse(
                index=index, error_code=outcome.error, base_offset=outcome.base_offset,
                log_append_time_ms=outcome.log_append_time_ms,
                log_start_offset=outcome.log_start_offset, error_message=outcome.message,
            ))
        topics.append(TopicResponse(name=topic_data.name, partition_responses=partitions))
    for partition in touched:
        await partition.flush_if_due(now_ms)
    if required:
        results = await broker.replication.wait_for_acks(required, request.timeout_ms)
        for key, code in results.items():
            if code != ErrorCode.NONE:
                answers, position = waiting[key]
                answers[position] = _error(key[1], code)
    if acks == 0:
        return None
    return ProduceResponse(responses=topics, throttle_time_ms=0)
