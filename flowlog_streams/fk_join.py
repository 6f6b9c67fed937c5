"""Table-table foreign-key joins (Kafka Streams' KIP-213), in five processors and two topics.

    orders.join(customers, lambda order: order["customer"], joiner)

Left table L (orders, key = order id) names a row of right table R
(customers) by `foreign_key_extractor(left_value)`. The two tables are
partitioned differently, so:

1. L's task sends a *subscription* for each update to the FK's partition
   (topic `<name>-subscription-registration-topic`, keyed by the FK bytes):
   the left key, the left task's partition and a hash of the new left value,
   with an instruction (Kafka's four): drop the old subscription when the FK
   changed or the row was deleted (propagating a tombstone when needed), and
   subscribe to the new FK (in a left join a result is due even without R).
2. R's task keeps subscriptions in a store keyed FK + left key, and answers
   each with R's current value for the FK; an update of R answers every
   subscriber of its key (a prefix scan).
3. Answers go back to the left key's partition (`<name>-subscription-response-topic`),
   where L's task compares the answer's hash with the hash of L's current
   value: an answer about an older left value is stale and dropped, so
   results stay right whatever order the two sides' records arrive in.
   Then: a result `joiner(left, right)`, or a tombstone (left deleted, or
   no right value in an inner join).

Results form a table materialized in a store (old values come from there).
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Final

import attrs

from flowlog_streams.aggregate_processors import DROP_NULL_KEY, Change
from flowlog_streams.errors import SerializationError, TopologyException
from flowlog_streams.processor import Processor, ProcessorContext, Record
from flowlog_streams.serdes import Serde, Serdes
from flowlog_streams.table_joins import Joiner
from flowlog_streams.table_processors import ValueGetterSupplier

if TYPE_CHECKING:
    from flowlog_streams.ktable import KTable
    from flowlog_streams.materialized import Materialized

# Kafka Streams' subscription instructions.
DELETE_KEY_NO_PROPAGATE: Final = 0
DELETE_KEY_AND_PROPAGATE: Final = 1
PROPAGATE_NULL_IF_NO_FK_VAL_AVAILABLE: Final = 2
PROPAGATE_ONLY_IF_FK_VAL_AVAILABLE: Final = 3

_VERSION: Final = 1
_HEAD = struct.Struct(">BBBi")  # version, instruction, has hash, primary partition
_RESPONSE_HEAD = struct.Struct(">BBBi")  # version, has hash, has value, primary partition
_HASH_BYTES: Final = 16
# The serdes' topic argument wherever the join serializes keys and values itself.
HASH_TOPIC: Final = ""


def value_hash(data: bytes | None) -> bytes | None:
    """A 128-bit hash of a serialized left value (None for a deleted row)."""
    return None if data is None else hashlib.blake2b(data, digest_size=_HASH_BYTES).digest()


@attrs.frozen(slots=True)
class Subscription:
    instruction: int
    hash: bytes | None
    primary_key: bytes
    primary_partition: int


@attrs.frozen(slots=True)
class Response:
    hash: bytes | None
    foreign_value: bytes | None
    primary_partition: int


class SubscriptionSerde:
    def serialize(self, topic: str, obj: Any) -> bytes | None:
        if obj is None:
            return None
        head = _HEAD.pack(_VERSION, obj.instruction, obj.hash is not None, obj.primary_partition)
        return head + (obj.hash or b"") + obj.primary_key

    def deserialize(self, topic: str, data: bytes | None) -> Any:
        if data is None:
            return None
        if len(data) < _HEAD.size:
            raise SerializationError("subscription record is truncated")
        version, instruction, has_hash, partition = _HEAD.unpack_from(data)
        if version != _VERSION:
            raise SerializationError(f"subscription record version {version} is unknown")
        at = _HEAD.size
        digest = bytes(data[at:at + _HASH_BYTES]) if has_hash else None
        at += _HASH_BYTES if has_hash else 0
        return Subscription(instruction, digest, bytes(data[at:]), partition)


class ResponseSerde:
    def serialize(self, topic: str, obj: Any) -> bytes | None:
        if obj is None:
            return None
        head = _RESPONSE_HEAD.pack(_VERSION, obj.hash is not None, obj.foreign_value is not None,
                                   obj.primary_partition)
        return head + (obj.hash or b"") + (obj.foreign_value or b"")

    def deserialize(self, topic: str, data: bytes | None) -> Any:
        if data is None:
            return None
        if len(data) < _RESPONSE_HEAD.size:
            raise SerializationError("subscription response is truncated")
        version, has_hash, has_value, partition = _RESPONSE_HEAD.unpack_from(data)
        if version != _VERSION:
            raise SerializationError(f"subscription response version {version} is unknown")
        at = _RESPONSE_HEAD.size
        digest = bytes(data[at:at + _HASH_BYTES]) if has_hash else None
        at += _HASH_BYTES if has_hash else 0
        return Response(digest, bytes(data[at:]) if has_value else None, partition)


def subscription_key(foreign_key: bytes, primary_key: bytes) -> bytes:
    """FK length, FK, then the left key: every subscriber of one FK is one prefix."""
    return struct.pack(">i", len(foreign_key)) + foreign_key + primary_key


def _resolve(serde: Serde | None, context: ProcessorContext, kind: str) -> Serde:
    if serde is not None:
        return serde
    config = context.app_config
    resolved: Serde = config.default_key_serde if kind == "key" else config.default_value_serde
    return resolved


class SubscriptionSendProcessor(Processor):
    """On L: subscribe to the new FK, unsubscribe from the old (Kafka's instruction rules)."""

    def __init__(self, extractor: Callable[[Any], Any], left: bool, left_key_serde: Serde | None,
                 left_value_serde: Serde | None, foreign_key_serde: Serde | None) -> None:
        self._extractor = extractor
        self._left = left
        self._serdes = (left_key_serde, left_value_serde, foreign_key_serde)

    def init(self, context: ProcessorContext) -> None:
        self.context = context
        key_serde, value_serde, fk_serde = self._serdes
        self._key_serde = _resolve(key_serde, context, "key")
        self._value_serde = _resolve(value_serde, context, "value")
        self._fk_serde = _resolve(fk_serde, context, "key")

    def process(self, record: Record) -> None:
        change: Change = record.value
        if record.key is None:
            return
        self._hash: bytes | None | bool = False  # computed once, on first use
        new_fk = None if change.new is None else self._extractor(change.new)
        old_fk = None if change.old is None else self._extractor(change.old)
        if self._left:
            if change.old is not None:
                if old_fk is not None and self._fk_bytes(old_fk) != self._fk_bytes(new_fk):
                    self._send(record, old_fk, DELETE_KEY_AND_PROPAGATE)
                self._send(record, new_fk, PROPAGATE_NULL_IF_NO_FK_VAL_AVAILABLE)
            elif change.new is not None:
                self._send(record, new_fk, PROPAGATE_NULL_IF_NO_FK_VAL_AVAILABLE)
            return
        # Inner join. Kafka Streams skips an update whose old or new foreign key is null,
        # leaving a result that no longer holds; here the old subscription is dropped (with
        # a tombstone when no new one replaces it) and a new foreign key subscribes.
        moved = old_fk is not None and self._fk_bytes(old_fk) != self._fk_bytes(new_fk)
        if moved:
            replaced = change.new is not None and new_fk is not None
            self._send(record, old_fk, DELETE_KEY_NO_PROPAGATE if replaced else DELETE_KEY_AND_PROPAGATE)
        if change.new is None:
            return
        if new_fk is None:
            self._skip()
        elif change.old is not None and old_fk is not None:
            self._send(record, new_fk, PROPAGATE_NULL_IF_NO_FK_VAL_AVAILABLE)
        else:
            self._send(record, new_fk, PROPAGATE_ONLY_IF_FK_VAL_AVAILABLE)

    def _fk_bytes(self, foreign_key: Any) -> bytes | None:
        return None if foreign_key is None else self._fk_serde.serialize(HASH_TOPIC, foreign_key)

    def _skip(self) -> None:
        self.context.record_dropped(DROP_NULL_KEY, "foreign-key")  # type: ignore[attr-defined]

    def _send(self, record: Record, foreign_key: Any, instruction: int) -> None:
        if self._hash is False:
            new = record.value.new
            self._hash = value_hash(
                None if new is None else self._value_serde.serialize(HASH_TOPIC, new)
            )
        primary = self._key_serde.serialize(HASH_TOPIC, record.key)
        assert primary is not None
        # The task's partition is the left key's (also when a cache flush sends the update).
        subscription = Subscription(
            instruction, self._hash if isinstance(self._hash, bytes) else None, primary,
            self.context.task_id.partition,
        )
        self.context.forward(Record(self._fk_bytes(foreign_key), subscription,
                                    record.timestamp, record.headers))


class SubscriptionReceiveProcessor(Processor):
    """On R's task: keep (or drop) the subscription, then answer it with R's value."""

    def __init__(self, store_name: str, foreign: ValueGetterSupplier,
                 foreign_key_serde: Serde | None, foreign_value_serde: Serde | None) -> None:
        self._store_name = store_name
        self._foreign = foreign
        self._serdes = (foreign_key_serde, foreign_value_serde)

    def init(self, context: ProcessorContext) -> None:
        self.context = context
        self._store = context.get_state_store(self._store_name)
        self._get = self._foreign.make(context)
        self._fk_serde = _resolve(self._serdes[0], context, "key")
        self._value_serde = _resolve(self._serdes[1], context, "value")

    def process(self, record: Record) -> None:
        subscription: Subscription = record.value
        fk_bytes: bytes | None = record.key
        instruction = subscription.instruction
        if fk_bytes is None:
            if instruction != PROPAGATE_NULL_IF_NO_FK_VAL_AVAILABLE:
                self.context.record_dropped(DROP_NULL_KEY, self._store_name)  # type: ignore[attr-defined]
                return
            found = None
        else:
            key = subscription_key(fk_bytes, subscription.primary_key)
            if instruction in (DELETE_KEY_AND_PROPAGATE, DELETE_KEY_NO_PROPAGATE):
                self._store.put(key, None, record.timestamp)
            else:
                self._store.put(key, SubscriptionSerde().serialize("", subscription),
                                record.timestamp)
            found = self._get(self._fk_serde.deserialize(HASH_TOPIC, fk_bytes))
        timestamp = record.timestamp if found is None else max(record.timestamp, found[1])
        if instruction == DELETE_KEY_NO_PROPAGATE:
            return
        if instruction == PROPAGATE_ONLY_IF_FK_VAL_AVAILABLE and found is None:
            return
        foreign = None
        if instruction != DELETE_KEY_AND_PROPAGATE and found is not None:
            foreign = self._value_serde.serialize(HASH_TOPIC, found[0])
        self.context.forward(Record(
            subscription.primary_key,
            Response(subscription.hash, foreign, subscription.primary_partition),
            timestamp, record.headers,
        ))


class ForeignTableUpdateProcessor(Processor):
    """On R's task: an update of R answers every subscriber of its key."""

    def __init__(self, store_name: str, foreign_key_serde: Serde | None,
                 foreign_value_serde: Serde | None) -> None:
        self._store_name = store_name
        self._serdes = (foreign_key_serde, foreign_value_serde)

    def init(self, context: ProcessorContext) -> None:
        self.context = context
        self._store = context.get_state_store(self._store_name)
        self._fk_serde = _resolve(self._serdes[0], context, "key")
        self._value_serde = _resolve(self._serdes[1], context, "value")
        self._subscription_serde = SubscriptionSerde()

    def process(self, record: Record) -> None:
        if record.key is None:
            self.context.record_dropped(DROP_NULL_KEY, self._store_name)  # type: ignore[attr-defined]
            return
        change: Change = record.value
        fk_bytes = self._fk_serde.serialize(HASH_TOPIC, record.key)
        assert fk_bytes is not None
        prefix = subscription_key(fk_bytes, b"")
        foreign = None if change.new is None else self._value_serde.serialize(HASH_TOPIC, change.new)
        for key, data in self._store.range(prefix, None):
            if not key.startswith(prefix):
                break
            subscription = self._subscription_serde.deserialize("", data)
            self.context.forward(Record(
                subscription.primary_key,
                Response(subscription.hash, foreign, subscription.primary_partition),
                record.timestamp, record.headers,
            ))


class ResponseJoinProcessor(Processor):
    """On L's task: drop stale answers (hash mismatch), then join or delete."""

    def __init__(self, left: ValueGetterSupplier, joiner: Joiner, left_join: bool,
                 left_key_serde: Serde | None, left_value_serde: Serde | None,
                 foreign_value_serde: Serde | None) -> None:
        self._left_getter = left
        self._joiner = joiner
        self._left_join = left_join
        self._serdes = (left_key_serde, left_value_serde, foreign_value_serde)

    def init(self, context: ProcessorContext) -> None:
        self.context = context
        self._get = self._left_getter.make(context)
        key_serde, value_serde, foreign_serde = self._serdes
        self._key_serde = _resolve(key_serde, context, "key")
        self._value_serde = _resolve(value_serde, context, "value")
        self._foreign_serde = _resolve(foreign_serde, context, "value")

    def process(self, record: Record) -> None:
        response: Response = record.value
        key = self._key_serde.deserialize(HASH_TOPIC, record.key)
        found = self._get(key)
        current = None if found is None else found[0]
        current_hash = None if found is None else value_hash(
            self._value_serde.serialize(HASH_TOPIC, current)
        )
        if current_hash != response.hash:
            self.context.record_dropped("stale_response", "foreign-key")  # type: ignore[attr-defined]
            return
        foreign = (
            None if response.foreign_value is None
            else self._foreign_serde.deserialize(HASH_TOPIC, response.foreign_value)
        )
        if foreign is None and (not self._left_join or current is None):
            result = None  # a tombstone
        else:
            result = self._joiner(current, foreign)
        self.context.forward(Record(key, Change(result, None), record.timestamp, record.headers))


def foreign_key_join(left: KTable, right: KTable, extractor: Callable[[Any], Any], joiner: Joiner,
                     *, left_join: bool, materialized: Materialized | None,
                     name: str | None) -> KTable:
    """Wire the five processors and two internal topics; returns the result table."""
    from flowlog_streams.ktable import KTable, _identity, source_topics_of
    from flowlog_streams.materialized import Materialized
    from flowlog_streams.table_processors import KTableMapValuesProcessor, store_getter
    from flowlog_streams.topology import KEY_VALUE, StoreSpec

    if left.getter is None or right.getter is None:
        raise TopologyException("a foreign-key join reads both tables: materialize them first")
    if not callable(extractor) or not callable(joiner):
        raise TopologyException("a foreign-key join needs a foreign_key_extractor and a joiner")
    builder = left.builder
    builder._check_open()
    topology = builder.topology
    base = name or builder.new_name("KTABLE-FK-JOIN-")
    subscription_topic = f"{base}-subscription-registration-topic"
    response_topic = f"{base}-subscription-response-topic"
    store_name = f"{base}-subscription-store"
    left_getter, right_getter = left.getter, right.getter
    lk, lv, rk, rv = left.key_serde, left.value_serde, right.key_serde, right.value_serde
    raw = Serdes.bytes()

    # 1. L -> subscription topic (keyed by the FK's bytes: R's partitioning).
    send = f"{base}-subscription-send"
    topology.add_processor(
        send, lambda: SubscriptionSendProcessor(extractor, left_join, lk, lv, rk), left.node_name
    )
    topology.add_internal_topic(subscription_topic)
    topology.add_sink(f"{base}-subscription-sink", subscription_topic, send,
                      key_serde=raw, value_serde=SubscriptionSerde())
    # 2. On R's side: receive, store, answer; and R's own updates answer subscribers.
    topology.add_source(f"{base}-subscription-source", subscription_topic,
                        key_serde=raw, value_serde=SubscriptionSerde())
    receive = f"{base}-subscription-receive"
    topology.add_processor(
        receive, lambda: SubscriptionReceiveProcessor(store_name, right_getter, rk, rv),
        f"{base}-subscription-source", stores=right_getter.stores,
    )
    update = f"{base}-foreign-update"
    topology.add_processor(
        update, lambda: ForeignTableUpdateProcessor(store_name, rk, rv), right.node_name
    )
    topology.add_state_store(StoreSpec(
        store_name, KEY_VALUE, caching=False, key_serde=raw, value_serde=raw,
    ), receive, update)
    # 3. Answers -> the left key's partition -> join on L's side.
    topology.add_internal_topic(response_topic)
    topology.add_sink(f"{base}-response-sink", response_topic, receive, update,
                      key_serde=raw, value_serde=ResponseSerde(),
                      partitioner=_to_primary_partition)
    topology.add_source(f"{base}-response-source", response_topic,
                        key_serde=raw, value_serde=ResponseSerde())
    respond = f"{base}-response-join"
    topology.add_processor(
        respond, lambda: ResponseJoinProcessor(left_getter, joiner, left_join, lk, lv, rv),
        f"{base}-response-source", stores=left_getter.stores,
    )
    topology.copartition([subscription_topic, *source_topics_of(topology, right.node_name)])
    topology.copartition([response_topic, *source_topics_of(topology, left.node_name)])
    # 4. The result table, materialized (its old values come from the store).
    materialized = materialized or Materialized()
    result_store = materialized.store_name or f"{base}-result-store"
    output = f"{base}-output"
    topology.add_processor(
        output, lambda: KTableMapValuesProcessor(_identity, result_store), respond
    )
    key_serde = materialized.key_serde or lk
    value_serde = materialized.value_serde
    topology.add_state_store(StoreSpec(
        result_store, KEY_VALUE, logging=materialized.logging, caching=materialized.caching,
        in_memory=materialized.in_memory, key_serde=key_serde, value_serde=value_serde,
    ), output)
    return KTable(builder, output, result_store, key_serde, value_serde, None,
                  store_getter(result_store))


def _to_primary_partition(topic: str, key: Any, value: Any, count: int) -> int:
    partition: int = value.primary_partition
    return partition
