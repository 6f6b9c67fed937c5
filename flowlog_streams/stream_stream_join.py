"""Stream-stream windowed joins: `left.join(right, joiner, windows)`, `left_join`, `outer_join`.

Kafka Streams' rules (`ki/KStreamImplJoin.java`, `ki/KStreamKStreamJoin.java`,
`ki/KStreamJoinWindow.java`, `ki/OuterStreamJoinStoreFactory.java`):
- Each side is kept in a window store of its own, for size + grace (size = before +
  after); every value of a key at one timestamp is kept (duplicates are not merged).
- A left record at t meets the right records of its key in [t - before, t + after]; a
  right record at t meets the left ones in [t - after, t + before]. Each pair gives
  joiner(left value, right value), with the later of the two timestamps. A record
  probes the other side before it is stored, so in a self-join it meets itself once.
- Null values are dropped and counted, and so are null keys, except on the outer side(s)
  of a left / outer join, where joiner(v, None) goes out at once (Kafka Streams 3.7+).
- Left / outer joins: a record of an outer side that meets nobody waits in the shared
  outer store until the join's stream time (the highest timestamp either side has seen)
  passes t + after + grace (left records; t + before + grace for right ones); then
  joiner(v, None) / joiner(None, v) goes out with t as its timestamp, ordered by (t, right
  before left, key bytes). A partner arriving first takes it out of the store. Waiting
  records are emitted when a record at stream time arrives, before that record is joined;
  a record that meets nobody while its window is already behind stream time goes out at
  once. (Kafka Streams throttles this emission to once per wall-clock second on a cluster;
  its test driver does not, and neither does this: it only changes when, not what.)
- Late: a record older than its own store keeps (t + size + grace <= that store's stream
  time) is not stored. It is counted as dropped (`late`) and written to
  `late_records_topic` when set; it still meets the partners the other store still
  holds, as in Kafka Streams (whose tests expect those results).
"""

from __future__ import annotations

import heapq
import re
import struct
import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Final

import attrs

from flowlog_streams.aggregate_processors import DROP_LATE, DROP_NULL_KEY, DROP_NULL_VALUE
from flowlog_streams.errors import StreamsException, TopologyException
from flowlog_streams.kstream_processors import PassThroughProcessor
from flowlog_streams.processor import Processor, ProcessorContext, Record
from flowlog_streams.serdes import Serde, Serdes
from flowlog_streams.stream_joined import StreamJoined
from flowlog_streams.topology import KEY_VALUE, WINDOW, ProcessorNode, SourceNode, StoreSpec
from flowlog_streams.windows import JoinWindows, Window

if TYPE_CHECKING:
    from flowlog_streams.kstream import KStream

Joiner = Callable[[Any, Any], Any]  # (left value, right value) -> joined value

WINDOWED_PREFIX: Final = "KSTREAM-WINDOWED-"
JOIN_THIS_PREFIX: Final = "KSTREAM-JOINTHIS-"
JOIN_OTHER_PREFIX: Final = "KSTREAM-JOINOTHER-"
OUTER_THIS_PREFIX: Final = "KSTREAM-OUTERTHIS-"
OUTER_OTHER_PREFIX: Final = "KSTREAM-OUTEROTHER-"
OUTER_SHARED_PREFIX: Final = "KSTREAM-OUTERSHARED-"
MERGE_PREFIX: Final = "KSTREAM-MERGE-"
STORE_SUFFIX: Final = "-store"
# Kafka Streams generates a repartition's node names when its prefix is a generated name.
_GENERATED_NAME: Final = re.compile(r"KSTREAM.*-[0-9]{10}")
# Join stores keep every record: their changelogs must not be compacted.
_JOIN_STORE_CHANGELOG: Final = (("cleanup.policy", "delete"),)

# Stored values of one key at one timestamp: [4-byte length][value bytes], repeated.
_LENGTH: Final = struct.Struct(">I")
# The outer store's key: [8-byte timestamp][side: 1 left, 0 right][key bytes], so its byte
# order is Kafka Streams' emission order.
_TIMESTAMP: Final = struct.Struct(">q")
_LEFT: Final = b"\x01"
_RIGHT: Final = b"\x00"


def encode_value(data: bytes) -> bytes:
    return _LENGTH.pack(len(data)) + data


def decode_values(data: bytes) -> list[bytes]:
    """The values of a stored list, in the order they were added."""
    values = []
    offset = 0
    end = len(data)
    while offset < end:  # bounded by the data: each step consumes >= 4 bytes
        (length,) = _LENGTH.unpack_from(data, offset)
        offset += 4
        values.append(data[offset:offset + length])
        offset += length
    return values


@attrs.frozen
class JoinPlan:
    """What both join processors of one join need (built once per topology)."""

    joiner: Joiner
    windows: JoinWindows
    this_store: str
    other_store: str
    left_outer: bool
    right_outer: bool
    # The outer store (left and outer joins only).
    shared_store: str | None
    key_serde: Serde | None
    left_value_serde: Serde | None
    right_value_serde: Serde | None


# ---------------------------------------------------------------- processors


class JoinWindowProcessor(Processor):
    """KSTREAM-WINDOWED-: pass the record on (to the join processor), then store it."""

    def __init__(self, plan: JoinPlan, left_side: bool) -> None:
        self._store_name = plan.this_store if left_side else plan.other_store
        # Both sides serialize keys with one topic name, so their bytes always agree.
        self._key_topic = plan.this_store
        self._key_serde = plan.key_serde
        self._value_serde = plan.left_value_serde if left_side else plan.right_value_serde
        self._size_ms = plan.windows.size_ms
        self._retention_ms = _store_retention_ms(plan.windows)

    def init(self, context: ProcessorContext) -> None:
        self.context = context
        self._forward = context.forward
        self._store = context.get_state_store(self._store_name)
        config = context.app_config
        self._serialize_key = (self._key_serde or config.default_key_serde).serialize
        self._serialize = (self._value_serde or config.default_value_serde).serialize

    def process(self, record: Record) -> None:
        self._forward(record)
        key = record.key
        value = record.value
        if key is None or value is None:
            return  # never joinable; the join processor counted it
        timestamp = record.timestamp
        store = self._store
        name = self._store_name
        key_bytes = _serialized(self._serialize_key(self._key_topic, key), key)
        data = _serialized(self._serialize(name, value), value)
        encoded = _LENGTH.pack(len(data)) + data
        # Every value of a key at one time is kept: a duplicate is appended to the list.
        found = store.fetch_raw(key_bytes, timestamp)
        if found is not None:
            encoded = found + encoded
        if not store.put_raw(key_bytes, timestamp, encoded, timestamp):
            observed = store.staged.observed_stream_time_ms()
            self.context.record_dropped(  # type: ignore[attr-defined]
                DROP_LATE, name, window=Window(timestamp, timestamp + self._size_ms),
                late_by_ms=observed - timestamp - self._retention_ms,
            )


class OuterJoinState:
    """What the two join processors of one task share in a left / outer join.

    The join's stream time (Kafka Streams' TimeTracker) and the outer store, with an
    in-memory index of its keys: one heap per side, so finding what is due costs the
    due entries, not a scan of the store. The index is built from the store on first use
    (after any restore) and kept in step with every write.
    """

    def __init__(self, store: Any, windows: JoinWindows) -> None:
        self.store = store
        self.stream_time = -1
        self._lookback_ms = {True: windows.after_ms + windows.grace_ms,
                             False: windows.before_ms + windows.grace_ms}
        self._heaps: dict[bool, list[bytes]] = {True: [], False: []}
        self._live: set[bytes] | None = None

    def _index(self) -> set[bytes]:
        live = self._live
        if live is None:
            live = set()
            for key, _value in self.store.all():  # bounded by the store: built once
                live.add(key)
                self._heaps[key[8:9] == _LEFT].append(key)
            for heap in self._heaps.values():
                heapq.heapify(heap)
            self._live = live
        return live

    def add(self, store_key: bytes, encoded_value: bytes, timestamp: int) -> None:
        live = self._index()
        if store_key in live:
            stored = self.store.get(store_key)
            self.store.put(store_key, stored + encoded_value, timestamp)
            return
        self.store.put(store_key, encoded_value, timestamp)
        live.add(store_key)
        heapq.heappush(self._heaps[store_key[8:9] == _LEFT], store_key)

    def remove(self, store_key: bytes, timestamp: int) -> None:
        live = self._index()
        if store_key in live:
            live.discard(store_key)
            self.store.put(store_key, None, timestamp)

    def take_due(self) -> list[tuple[bytes, bytes]]:
        """(store key, stored values) of every entry whose window closed, in emission order,
        taken out of the store."""
        live = self._index()
        due: list[bytes] = []
        for is_left, heap in self._heaps.items():
            limit = self.stream_time - self._lookback_ms[is_left]  # due iff t < limit
            while heap:  # bounded by the heap: each step pops one entry
                key = heap[0]
                if key in live and _TIMESTAMP.unpack_from(key)[0] >= limit:
                    break
                heapq.heappop(heap)
                if key in live:
                    live.discard(key)
                    due.append(key)
        due.sort()  # both sides' keys: (timestamp, right before left, key bytes)
        taken = []
        for key in due:
            taken.append((key, self.store.get(key)))
            self.store.put(key, None, _TIMESTAMP.unpack_from(key)[0])
        return taken


# One OuterJoinState per task: keyed by the task's outer store, which both processors share.
_OUTER_STATES: weakref.WeakKeyDictionary[Any, OuterJoinState] = weakref.WeakKeyDictionary()


class StreamStreamJoinProcessor(Processor):
    """KSTREAM-JOINTHIS- / -JOINOTHER- (OUTERTHIS / OUTEROTHER): probe the other side's store."""

    def __init__(self, plan: JoinPlan, left_side: bool) -> None:
        self._plan = plan
        self._left_side = left_side
        windows = plan.windows
        # This side's look-back and look-ahead into the other side's times.
        if left_side:
            self._before_ms, self._after_ms = windows.before_ms, windows.after_ms
        else:
            self._before_ms, self._after_ms = windows.after_ms, windows.before_ms
        self._outer = plan.left_outer if left_side else plan.right_outer
        self._side = _LEFT if left_side else _RIGHT

    def init(self, context: ProcessorContext) -> None:
        plan = self._plan
        config = context.app_config
        self.context = context
        self._forward = context.forward
        self._other_name = plan.other_store if self._left_side else plan.this_store
        self._other = context.get_state_store(self._other_name)
        self._key_topic = plan.this_store  # as the windowed processors serialize keys
        key_serde = plan.key_serde or config.default_key_serde
        self._serialize_key = key_serde.serialize
        self._deserialize_key = key_serde.deserialize
        left_serde = plan.left_value_serde or config.default_value_serde
        right_serde = plan.right_value_serde or config.default_value_serde
        self._deserialize_left = left_serde.deserialize
        self._deserialize_right = right_serde.deserialize
        this_serde, other_serde = (
            (left_serde, right_serde) if self._left_side else (right_serde, left_serde)
        )
        self._serialize_this = this_serde.serialize
        self._deserialize_other = other_serde.deserialize
        self._shared: OuterJoinState | None = None
        self._shared_topic = plan.shared_store or self._other_name  # the serdes' topic
        if plan.shared_store is not None:
            store = context.get_state_store(plan.shared_store)
            shared = _OUTER_STATES.get(store)
            if shared is None:
                shared = _OUTER_STATES[store] = OuterJoinState(store, plan.windows)
            self._shared = shared

    def process(self, record: Record) -> None:
        timestamp = record.timestamp
        shared = self._shared
        if shared is not None and timestamp > shared.stream_time:
            shared.stream_time = timestamp
        key = record.key
        value = record.value
        if key is None or value is None:
            if key is None and value is not None and self._outer:
                self._forward(Record(None, self._unmatched(value), timestamp, record.headers))
                return
            self.context.record_dropped(  # type: ignore[attr-defined]
                DROP_NULL_KEY if key is None else DROP_NULL_VALUE, self._other_name
            )
            return
        if shared is not None and timestamp == shared.stream_time:
            self._emit_closed(shared, record)
        time_to = max(0, timestamp + self._after_ms)
        found = self._other.fetch_raw_range(
            self._key_bytes(key), max(0, timestamp - self._before_ms), time_to
        )
        if found:
            self._emit_joined(record, found, shared)
        elif self._outer:
            if shared is None or time_to < shared.stream_time:
                self._forward(Record(key, self._unmatched(value), timestamp, record.headers))
            else:
                data = _serialized(self._serialize_this(self._shared_topic, value), value)
                shared.add(_TIMESTAMP.pack(timestamp) + self._side + self._key_bytes(key),
                           _LENGTH.pack(len(data)) + data, timestamp)

    def _key_bytes(self, key: Any) -> bytes:
        return _serialized(self._serialize_key(self._key_topic, key), key)

    def _emit_joined(self, record: Record, found: list[tuple[int, bytes]],
                     shared: OuterJoinState | None) -> None:
        key, value, timestamp, headers = record.key, record.value, record.timestamp, record.headers
        joiner = self._plan.joiner
        deserialize = self._deserialize_other
        topic = self._other_name
        forward = self._forward
        other_prefix = None
        if shared is not None:
            other_side = _RIGHT if self._left_side else _LEFT
            other_prefix = (other_side, self._key_bytes(key))
        for start, data in found:
            if other_prefix is not None and shared is not None:
                shared.remove(_TIMESTAMP.pack(start) + other_prefix[0] + other_prefix[1], timestamp)
            result_ts = start if start > timestamp else timestamp
            for raw in decode_values(data):
                other = deserialize(topic, raw)
                joined = joiner(value, other) if self._left_side else joiner(other, value)
                forward(Record(key, joined, result_ts, headers))

    def _unmatched(self, value: Any) -> Any:
        joiner = self._plan.joiner
        return joiner(value, None) if self._left_side else joiner(None, value)

    def _emit_closed(self, shared: OuterJoinState, record: Record) -> None:
        """Waiting records whose window closed: joiner(v, None) / joiner(None, v) at their time."""
        topic = self._shared_topic
        joiner = self._plan.joiner
        for store_key, data in shared.take_due():
            timestamp = _TIMESTAMP.unpack_from(store_key)[0]
            is_left = store_key[8:9] == _LEFT
            key = self._deserialize_key(self._key_topic, store_key[9:])
            deserialize = self._deserialize_left if is_left else self._deserialize_right
            for raw in decode_values(data):
                value = deserialize(topic, raw)
                joined = joiner(value, None) if is_left else joiner(None, value)
                self._forward(Record(key, joined, timestamp, record.headers))


def _serialized(data: bytes | None, obj: Any) -> bytes:
    if data is None:
        raise StreamsException(f"a join key or value may not serialize to null ({obj!r})")
    return data


def _store_retention_ms(windows: JoinWindows) -> int:
    # A store keeps at least 1 ms (a window of 0 with no grace still joins equal times).
    return max(1, windows.retention_ms)


# ---------------------------------------------------------------- DSL wiring


def join_streams(this: KStream, other: KStream, joiner: Joiner, windows: Any = None,
                 stream_joined: StreamJoined | None = None, *, name: str | None = None,
                 left_outer: bool, right_outer: bool) -> KStream:
    """Add a stream-stream join to the topology, named as Kafka Streams names it."""
    from flowlog_streams.kstream import KStream

    _check_arguments(this, other, joiner, windows, stream_joined)
    joined = stream_joined or StreamJoined()
    if name is not None:
        joined = joined.with_name(name)
    builder = this.builder
    builder._check_open()
    named = joined.name
    this = _repartition_for_join(this, named and named + "-left", joined.key_serde,
                                 joined.value_serde)
    other = _repartition_for_join(other, named and named + "-right", joined.key_serde,
                                  joined.other_value_serde)
    topology = builder.topology
    topology.copartition(_source_topics(this) | _source_topics(other))

    this_windowed = f"{named}-this-windowed" if named else builder.new_name(WINDOWED_PREFIX)
    other_windowed = f"{named}-other-windowed" if named else builder.new_name(WINDOWED_PREFIX)
    this_prefix = OUTER_THIS_PREFIX if right_outer else JOIN_THIS_PREFIX
    this_generated = builder.new_name(this_prefix)
    other_generated = builder.new_name(OUTER_OTHER_PREFIX if left_outer else JOIN_OTHER_PREFIX)
    this_suffix = "-outer-this-join" if right_outer else "-this-join"
    other_suffix = "-outer-other-join" if left_outer else "-other-join"
    this_join = named + this_suffix if named else this_generated
    other_join = named + other_suffix if named else other_generated
    merge = f"{named}-merge" if named else builder.new_name(MERGE_PREFIX)

    base = joined.store_name
    this_store = (base + this_suffix if base else this_generated) + STORE_SUFFIX
    other_store = (base + other_suffix if base else other_generated) + STORE_SUFFIX
    shared_store = None
    if left_outer:
        shared_suffix = "-outer-shared-join" if right_outer else "-left-shared-join"
        shared_store = (
            base + shared_suffix if base
            else OUTER_SHARED_PREFIX + this_generated[len(this_prefix):]
        ) + STORE_SUFFIX

    key_serde = joined.key_serde or this.key_serde or other.key_serde
    plan = JoinPlan(
        joiner=joiner, windows=windows, this_store=this_store, other_store=other_store,
        left_outer=left_outer, right_outer=right_outer, shared_store=shared_store,
        key_serde=key_serde,
        left_value_serde=joined.value_serde or this.value_serde,
        right_value_serde=joined.other_value_serde or other.value_serde,
    )
    topology.add_processor(this_windowed, lambda: JoinWindowProcessor(plan, True), this.node_name)
    topology.add_processor(other_windowed, lambda: JoinWindowProcessor(plan, False),
                           other.node_name)
    topology.add_processor(this_join, lambda: StreamStreamJoinProcessor(plan, True), this_windowed)
    topology.add_processor(other_join, lambda: StreamStreamJoinProcessor(plan, False),
                           other_windowed)
    topology.add_processor(merge, PassThroughProcessor, this_join, other_join)
    retention_ms = _store_retention_ms(windows)
    for store, writer, reader in ((this_store, this_windowed, other_join),
                                  (other_store, other_windowed, this_join)):
        topology.add_state_store(StoreSpec(
            store, WINDOW, logging=joined.logging, caching=False, in_memory=joined.in_memory,
            retention_ms=retention_ms, key_serde=key_serde, value_serde=Serdes.bytes(),
            changelog_overrides=_JOIN_STORE_CHANGELOG,
        ), writer, reader)
    if shared_store is not None:
        topology.add_state_store(StoreSpec(
            shared_store, KEY_VALUE, logging=joined.logging, caching=False,
            in_memory=joined.in_memory, key_serde=Serdes.bytes(), value_serde=Serdes.bytes(),
        ), this_join, other_join)
    # Kafka Streams keeps no serde for the result; the key serde only when both sides agree.
    result_key_serde = joined.key_serde or (
        this.key_serde if this.key_serde is other.key_serde else None
    )
    return KStream(builder, merge, result_key_serde, None, repartition_required=False)


def _check_arguments(this: KStream, other: KStream, joiner: Any, windows: Any,
                     stream_joined: Any) -> None:
    if other.builder is not this.builder:
        raise TopologyException("a join needs two streams of the same StreamsBuilder")
    if not callable(joiner):
        raise TypeError(f"join needs a callable joiner(left_value, right_value), got {joiner!r}")
    if not isinstance(windows, JoinWindows):
        raise TypeError(f"a stream-stream join needs JoinWindows, not {windows!r}")
    if stream_joined is not None and not isinstance(stream_joined, StreamJoined):
        raise TypeError(f"stream_joined must be a StreamJoined, not {stream_joined!r}")


# A stream re-keyed upstream is repartitioned once per topic name, however many joins
# read it (Kafka Streams reuses the repartition node; its names are still burnt).
_REPARTITIONED: weakref.WeakKeyDictionary[Any, dict[str, KStream]] = weakref.WeakKeyDictionary()


def _repartition_for_join(stream: KStream, prefix: str | None, key_serde: Serde | None,
                          value_serde: Serde | None) -> KStream:
    from flowlog_streams.kstream import KStream, repartition_through

    if not stream.repartition_required:
        return stream
    builder = stream.builder
    prefix = prefix or stream.node_name
    done = _REPARTITIONED.setdefault(stream, {})
    if prefix in done:
        for generated in ("KSTREAM-SINK-", "KSTREAM-FILTER-", "KSTREAM-SOURCE-"):
            builder.new_name(generated)
        return done[prefix]
    key_serde = key_serde or stream.key_serde
    value_serde = value_serde or stream.value_serde
    # Null keys pass: a left / outer join still emits them (joiner(v, None)).
    source = repartition_through(
        builder, stream.node_name, prefix, key_serde, value_serde, None, None,
        generated=bool(_GENERATED_NAME.fullmatch(prefix)),
    )
    done[prefix] = KStream(builder, source, key_serde, value_serde, repartition_required=False)
    return done[prefix]


def _source_topics(stream: KStream) -> set[str]:
    """The topics of the sources feeding the stream within its sub-topology (pattern
    sources cannot be checked before start-up and are left out)."""
    nodes = stream.builder.topology.nodes
    topics: set[str] = set()
    seen: set[str] = set()
    pending = [stream.node_name]
    while pending:  # bounded by the topology's nodes: each is visited once
        name = pending.pop()
        if name in seen:
            continue
        seen.add(name)
        node = nodes[name]
        if isinstance(node, SourceNode):
            topics.update(node.topics)
        elif isinstance(node, ProcessorNode):
            pending.extend(node.parents)
    return topics
