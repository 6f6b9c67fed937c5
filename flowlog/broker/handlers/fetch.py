"""Fetch (key 1), versions 4-12: consumer fetches and followers' replica fetches.

Every partition goes through its leader core's check_fetch (Kafka's order: the
current-leader-epoch fence, FENCED_LEADER_EPOCH / UNKNOWN_LEADER_EPOCH, the replica,
the diverging epoch of v12's last_fetched_epoch, the offset range). A follower
(replica_id >= 0) reads up to the log end and its fetch offset is reported to the
core once per request (on_follower_fetch: ISR expansion, high watermark); a consumer
reads up to the high watermark.

A fetch answers at once when it has min_bytes of data, or an error; otherwise it
parks on every partition it asked for and is woken by the next append, or
answers empty at max_wait_ms. Fetch sessions (KIP-227) are not kept: the answer
always carries session_id 0, which every client accepts.

Zero copy: a partition read that may reach ZERO_COPY_MIN_BYTES is taken as a
FileSlice of the segment file (PartitionLog.read_slice) and put in the RECORDS
field as is; the connection sends it with os.sendfile and closes it. Smaller
reads stay bytes (one pread), which is cheaper than a slice's dup, close and
extra syscalls.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import trio

from flowlog.broker.connection import RequestContext
from flowlog.broker.partition import Partition
from flowlog.protocol.codec import ByteSlice
from flowlog.protocol.errors import ErrorCode
from flowlog.protocol.messages.fetch import FetchResponse
from flowlog.storage.errors import OffsetOutOfRangeError
from flowlog.storage.file_slice import FileSlice
from flowlog.storage.log import PartitionLog

if TYPE_CHECKING:
    from flowlog.broker.broker import Broker

# Clients may ask for hours; a parked fetch is bounded so a dead peer frees its slot.
MAX_WAIT_MS_LIMIT = 60_000
# Reads of at least this many bytes go out with sendfile. Measured with
# bench/fetch_bench.py (--batch-messages 2, 4 partitions, loopback): bytes were
# faster at 16 KiB (+55%) and 64 KiB (+10%) per partition, slices at 128 KiB (+28%)
# and 256 KiB (+53%); the break-even lies between.
ZERO_COPY_MIN_BYTES = 96 * 1024

PartitionData = FetchResponse.PartitionData
TopicResponse = FetchResponse.FetchableTopicResponse


def _partition_error(index: int, code: ErrorCode, partition: Partition | None = None) -> object:
    return PartitionData(
        partition_index=index,
        error_code=code,
        high_watermark=partition.high_watermark if partition else -1,
        last_stable_offset=partition.high_watermark if partition else -1,
        log_start_offset=partition.log_start_offset if partition else -1,
        aborted_transactions=None,
        preferred_read_replica=-1,
        records=b"",  # librdkafka rejects null records (MessageSetSize -1) even on errors
    )


def _read_records(log: PartitionLog, offset: int, limit: int, high_watermark: int,
                  slices: list[ByteSlice]) -> bytes | memoryview | FileSlice:
    """What log.read would return; a FileSlice (added to `slices`) when it is large."""
    if limit < ZERO_COPY_MIN_BYTES:
        return log.read(offset, limit, max_offset=high_watermark)
    piece = log.read_slice(offset, limit, max_offset=high_watermark)
    if piece is None:
        return b""
    if piece.length < ZERO_COPY_MIN_BYTES:
        with piece:
            return piece.read()
    slices.append(piece)
    return piece


def _read_all(broker: Broker, request: Any, slices: list[ByteSlice],
              first: bool) -> tuple[list[object], int, list[Partition], bool]:
    """One pass over the requested partitions: (topic responses, bytes, partitions read,
    whether an answer must go now: a diverging epoch).

    Every FileSlice put in the answer is also appended to `slices`. `first`: the
    request's first pass, when a follower's fetch offset is reported to the leader core.
    """
    budget = request.max_bytes if request.max_bytes > 0 else 0x7FFFFFFF
    replica_id = request.replica_id
    from_follower = replica_id >= 0
    now_ms = broker.clock_ms()
    total = 0
    answer_now = False
    topics: list[object] = []
    partitions_read: list[Partition] = []
    for fetch_topic in request.topics:
        answers = []
        for fetch_partition in fetch_topic.partitions:
            index = fetch_partition.partition
            partition = broker.replicas.get(fetch_topic.topic, index)
            not_here = broker.leadership_error(fetch_topic.topic, index)
            leader = partition.leader_core if partition is not None else None
            if partition is None or not_here is not None or leader is None:
                # Fetch v4-12 has no current-leader field: the client refreshes metadata.
                code = not_here or (ErrorCode.UNKNOWN_TOPIC_OR_PARTITION if partition is None
                                    else ErrorCode.NOT_LEADER_OR_FOLLOWER)
                answers.append(_partition_error(index, code))
                continue
            check = leader.check_fetch(replica_id if from_follower else -1,
                                       fetch_partition.current_leader_epoch,
                                       fetch_partition.fetch_offset,
                                       fetch_partition.last_fetched_epoch)
            if check.error != ErrorCode.NONE:
                answers.append(_partition_error(index, check.error, partition))
                continue
            if check.diverging_epoch is not None:
                answer_now = True
                answers.append(PartitionData(
                    partition_index=index, error_code=ErrorCode.NONE,
                    high_watermark=leader.high_watermark, last_stable_offset=leader.high_watermark,
                    log_start_offset=partition.log_start_offset,
                    diverging_epoch=PartitionData.EpochEndOffset(
                        epoch=check.diverging_epoch.epoch,
                        end_offset=check.diverging_epoch.end_offset),
                    aborted_transactions=None, preferred_read_replica=-1, records=b"",
                ))
                continue
            if from_follower and first:
                outcome = leader.on_follower_fetch(replica_id, fetch_partition.fetch_offset, now_ms)
                if outcome.alter_partition is not None:
                    broker.replication.send_alter_partition(partition, outcome.alter_partition)
                if outcome.high_watermark_moved:
                    partition.changed()
            partitions_read.append(partition)
            high_watermark = leader.high_watermark
            read_end = partition.log.log_end_offset if from_follower else high_watermark
            limit = min(fetch_partition.partition_max_bytes, budget - total)
            records: bytes | memoryview | FileSlice = b""
            if limit > 0 or total == 0:
                try:
                    records = _read_records(partition.log, fetch_partition.fetch_offset,
                                            max(limit, 1), read_end, slices)
                except OffsetOutOfRangeError:
                    answers.append(_partition_error(index, ErrorCode.OFFSET_OUT_OF_RANGE, partition))
                    continue
                # Only the first data in a response may exceed the limits (one whole batch).
                if total > 0 and len(records) > limit:
                    if isinstance(records, FileSlice):
                        records.close()
                    records = b""
            total += len(records)
            answers.append(PartitionData(
                partition_index=index,
                error_code=ErrorCode.NONE,
                high_watermark=high_watermark,
                last_stable_offset=high_watermark,
                log_start_offset=partition.log_start_offset,
                aborted_transactions=None,
                preferred_read_replica=-1,
                records=records,
            ))
        topics.append(TopicResponse(topic=fetch_topic.topic, partitions=answers))
    return topics, total, partitions_read, answer_now


def _has_error(topics: list[object]) -> bool:
    return any(
        answer.error_code != ErrorCode.NONE
        for topic in topics
        for answer in topic.partitions  # type: ignore[attr-defined]
    )


async def handle_fetch(broker: Broker, context: RequestContext, request: Any) -> object:
    wait_ms = min(max(request.max_wait_ms, 0), MAX_WAIT_MS_LIMIT)
    deadline = trio.current_time() + wait_ms / 1000
    # The connection closes these once the response is sent (or abandoned).
    slices = context.open_slices
    first = True
    while True:
        topics, total, partitions, answer_now = _read_all(broker, request, slices, first)
        first = False
        if (total >= max(request.min_bytes, 1) or answer_now or _has_error(topics)
                or not partitions):
            break
        if trio.current_time() >= deadline:
            break
        # This answer is dropped: read again after the wait, hold no files meanwhile.
        for piece in slices:
            piece.close()
        slices.clear()
        appended = trio.Event()
        registered = [p for p in partitions if p.add_waiter(appended)]
        try:
            with trio.move_on_at(deadline):
                await appended.wait()
        finally:
            for partition in registered:
                partition.remove_waiter(appended)
    return FetchResponse(throttle_time_ms=0, error_code=ErrorCode.NONE, session_id=0, responses=topics)
