"""The shared core of every client: bootstrap, a connection pool, the metadata cache, retries.

Connections are keyed by broker node id; bootstrap connections get negative
ids (-1, -2, ...) as in the Java client, until metadata names the brokers.
Their tasks run in the nursery of the client object that owns the Cluster
(`async with Producer(...)`), so closing the client stops everything.

The metadata cache refreshes when a caller asks for a topic it does not know,
when a request failed with NOT_LEADER_OR_FOLLOWER, UNKNOWN_TOPIC_OR_PARTITION,
LEADER_NOT_AVAILABLE or a connection loss (`invalidate_metadata()`), and when
it is older than metadata_max_age_ms. Concurrent refreshes coalesce.
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, Final, TypeVar

import trio

from flowlog.client.config import ClientConfig, parse_bootstrap
from flowlog.client.connection import BrokerConnection, open_connection
from flowlog.client.errors import (
    ClientClosedError,
    KafkaConnectionError,
    KafkaError,
    KafkaTimeoutError,
    LeaderNotAvailableError,
    NotLeaderError,
    UnknownTopicError,
    error_for_code,
)
from flowlog.client.types import BrokerInfo, PartitionInfo, TopicPartition
from flowlog.protocol.errors import ErrorCode
from flowlog.protocol.messages.metadata import MetadataRequest

METADATA_KEY: Final = 3
# Connections are keyed by node id; a coordinator connection by this minus the node id.
COORDINATOR_CONNECTION_BASE: Final = 2**31 - 1
T = TypeVar("T")
# Errors after which the cached leaders may be wrong.
_STALE_METADATA_ERRORS: Final = (
    KafkaConnectionError,
    NotLeaderError,
    UnknownTopicError,
    LeaderNotAvailableError,
)


class Cluster:
    def __init__(
        self,
        bootstrap_servers: str | list[str] | tuple[str, ...],
        config: ClientConfig,
        nursery: trio.Nursery,
        *,
        allow_auto_topic_creation: bool = False,
    ) -> None:
        self.config = config
        self._bootstrap = parse_bootstrap(bootstrap_servers)
        self._nursery = nursery
        self._allow_auto_topic_creation = allow_auto_topic_creation
        self._rng = random.Random()
        self._connections: dict[int, BrokerConnection] = {}
        self._connect_locks: dict[int, trio.Lock] = {}
        self._metadata_lock = trio.Lock()
        self._metadata_generation = 0
        self._metadata_time = -1e18
        self._metadata_stale = True
        self._closed = False
        self.brokers: dict[int, BrokerInfo] = {}
        self.controller_id = -1
        self.cluster_id: str | None = None
        self.topics: dict[str, dict[int, PartitionInfo]] = {}
        self.topic_errors: dict[str, int] = {}
        # Topics whose metadata we keep refreshing.
        self._interesting_topics: set[str] = set()
        self.metadata_changed = trio.Event()

    # ---------------------------------------------------------------- connections

    def close(self) -> None:
        self._closed = True
        for connection in self._connections.values():
            connection.close()
        self._connections.clear()

    async def connection(self, node_id: int) -> BrokerConnection:
        """The live connection to `node_id`, opening one if needed."""
        return await self._connection(node_id, node_id)

    async def coordinator_connection(self, node_id: int) -> BrokerConnection:
        """A second connection to `node_id` for group requests (Java's consumer has one too).

        The broker answers a connection's requests in order, so on the fetch
        connection a commit or heartbeat would wait behind a Fetch that long-polls
        for fetch_max_wait_ms.
        """
        return await self._connection(COORDINATOR_CONNECTION_BASE - node_id, node_id)

    async def _connection(self, key: int, node_id: int) -> BrokerConnection:
        if self._closed:
            raise ClientClosedError("the client is closed")
        connection = self._connections.get(key)
        if connection is not None and not connection.closed:
            return connection
        if node_id >= 0 and node_id not in self.brokers:
            await self.refresh_metadata()  # learn the broker's address
        lock = self._connect_locks.setdefault(key, trio.Lock())
        async with lock:
            connection = self._connections.get(key)
            if connection is not None and not connection.closed:
                return connection
            host, port = self._address_of(node_id)
            try:
                connection = await open_connection(
                    self._nursery, host, port, node_id=node_id, config=self.config
                )
            except KafkaError:
                self.invalidate_metadata()
                raise
            self._connections[key] = connection
            return connection

    def _address_of(self, node_id: int) -> tuple[str, int]:
        broker = self.brokers.get(node_id)
        if broker is not None:
            return broker.host, broker.port
        if node_id < 0 and -node_id <= len(self._bootstrap):
            return self._bootstrap[-node_id - 1]
        raise KafkaConnectionError(f"no address known for broker {node_id}")

    async def any_connection(self) -> BrokerConnection:
        """A live connection to some broker: the least loaded open one, else a new one."""
        live = [c for c in self._connections.values() if not c.closed]
        if live:
            return min(live, key=lambda c: c.in_flight)
        candidates = list(self.brokers) + [-(index + 1) for index in range(len(self._bootstrap))]
        self._rng.shuffle(candidates)
        last_error: KafkaError | None = None
        for node_id in candidates:
            try:
                return await self.connection(node_id)
            except KafkaError as error:
                last_error = error
        raise KafkaConnectionError(
            f"no broker reachable (tried {len(candidates)}): {last_error}"
        ) from last_error

    async def controller_connection(self) -> BrokerConnection:
        if self.controller_id < 0 or self.controller_id not in self.brokers:
            await self.refresh_metadata()
        if self.controller_id >= 0 and self.controller_id in self.brokers:
            return await self.connection(self.controller_id)
        return await self.any_connection()

    def statistics(self) -> dict[str, Any]:
        return {
            "connections": {n: c.statistics() for n, c in self._connections.items()},
            "metadata_generation": self._metadata_generation,
            "topics": len(self.topics),
        }

    # ---------------------------------------------------------------- metadata

    def invalidate_metadata(self) -> None:
        self._metadata_stale = True

    def add_topics(self, topics: Iterable[str]) -> None:
        self._interesting_topics.update(topics)

    def metadata_needs_refresh(self) -> bool:
        age_ms = (trio.current_time() - self._metadata_time) * 1000
        return self._metadata_stale or age_ms > self.config.metadata_max_age_ms

    async def refresh_metadata(
        self, topics: Iterable[str] | None = None, *, all_topics: bool = False
    ) -> None:
        """Fetch metadata for the interesting topics plus `topics` (or all topics)."""
        if topics is not None:
            self._interesting_topics.update(topics)
        generation = self._metadata_generation
        async with self._metadata_lock:
            wanted = set(self._interesting_topics)
            if (
                not all_topics
                and self._metadata_generation > generation
                and not self._metadata_stale
                and wanted <= set(self.topics) | set(self.topic_errors)
            ):
                return  # someone refreshed while we waited
            await self._fetch_metadata(None if all_topics else sorted(wanted))

    async def _fetch_metadata(self, topics: list[str] | None) -> None:
        connection = await self.any_connection()
        allow = self._allow_auto_topic_creation

        def build(version: int) -> Any:
            request_topics = (
                None
                if topics is None
                else [MetadataRequest.MetadataRequestTopic(name=name) for name in topics]
            )
            return MetadataRequest(
                topics=request_topics, allow_auto_topic_creation=allow if version >= 4 else True
            )

        response = await connection.request(METADATA_KEY, build)
        self._apply_metadata(response, topics)

    def _apply_metadata(self, response: Any, requested: list[str] | None) -> None:
        self.brokers = {
            b.node_id: BrokerInfo(b.node_id, b.host, b.port, b.rack) for b in response.brokers
        }
        self.controller_id = response.controller_id
        self.cluster_id = response.cluster_id
        seen = set()
        for topic in response.topics:
            name = topic.name
            seen.add(name)
            if topic.error_code != ErrorCode.NONE and not topic.partitions:
                self.topic_errors[name] = topic.error_code
                self.topics.pop(name, None)
                continue
            self.topic_errors.pop(name, None)
            self.topics[name] = {
                p.partition_index: PartitionInfo(
                    name, p.partition_index, p.leader_id, p.leader_epoch,
                    tuple(p.replica_nodes), tuple(p.isr_nodes), p.error_code,
                )
                for p in topic.partitions
            }
        if requested is None:
            for name in set(self.topics) - seen:
                del self.topics[name]
        # Connections to brokers that left the cluster are closed.
        for node_id in [n for n in self._connections if n >= 0 and n not in self.brokers]:
            self._connections.pop(node_id).close()
        self._metadata_generation += 1
        self._metadata_time = trio.current_time()
        self._metadata_stale = False
        self.metadata_changed.set()
        self.metadata_changed = trio.Event()

    async def partitions(self, topic: str, *, timeout_ms: int | None = None) -> dict[int, PartitionInfo]:
        """The partitions of `topic`, refreshing metadata until known (or UnknownTopicError)."""
        self._interesting_topics.add(topic)
        if topic in self.topics and not self.metadata_needs_refresh():
            return self.topics[topic]

        async def lookup() -> dict[int, PartitionInfo]:
            await self.refresh_metadata([topic])
            if topic in self.topics:
                return self.topics[topic]
            code = self.topic_errors.get(topic, ErrorCode.UNKNOWN_TOPIC_OR_PARTITION)
            raise error_for_code(code, f"topic {topic!r}")

        return await self.with_retries(lookup, timeout_ms=timeout_ms, what=f"metadata of {topic!r}")

    def leader_for(self, tp: TopicPartition) -> int | None:
        partitions = self.topics.get(tp.topic)
        if partitions is None:
            return None
        info = partitions.get(tp.partition)
        if info is None or info.leader < 0:
            return None
        return info.leader

    async def wait_leader(self, tp: TopicPartition, *, timeout_ms: int | None = None) -> int:
        async def lookup() -> int:
            if self.metadata_needs_refresh() or self.leader_for(tp) is None:
                await self.refresh_metadata([tp.topic])
            leader = self.leader_for(tp)
            if leader is None:
                if tp.topic in self.topic_errors or tp.topic not in self.topics:
                    raise UnknownTopicError(f"{tp.topic}")
                if tp.partition not in self.topics[tp.topic]:
                    raise UnknownTopicError(f"{tp.topic}[{tp.partition}]")
                raise LeaderNotAvailableError(f"{tp.topic}[{tp.partition}]")
            return leader

        return await self.with_retries(lookup, timeout_ms=timeout_ms, what=f"leader of {tp}")

    # ---------------------------------------------------------------- retries

    def backoff_s(self, attempt: int) -> float:
        """Exponential backoff with +-20% jitter, capped at retry_backoff_max_ms."""
        base = min(
            self.config.retry_backoff_ms * (2 ** min(attempt, 20)), self.config.retry_backoff_max_ms
        )
        return base * self._rng.uniform(0.8, 1.2) / 1000

    def note_error(self, error: BaseException) -> None:
        if isinstance(error, _STALE_METADATA_ERRORS):
            self.invalidate_metadata()

    async def with_retries(
        self,
        operation: Callable[[], Awaitable[T]],
        *,
        timeout_ms: int | None = None,
        what: str = "request",
    ) -> T:
        """Run `operation` again after retriable errors, with backoff, until the deadline."""
        timeout_ms = timeout_ms or self.config.default_api_timeout_ms
        deadline = trio.current_time() + timeout_ms / 1000
        attempt = 0
        while True:
            try:
                return await operation()
            except KafkaError as error:
                if not error.retriable:
                    raise
                self.note_error(error)
                delay = self.backoff_s(attempt)
                attempt += 1
                if trio.current_time() + delay >= deadline:
                    raise KafkaTimeoutError(
                        f"{what} failed for {timeout_ms} ms; last error: {error}"
                    ) from error
                await trio.sleep(delay)

    async def call(
        self,
        node_id: int | None,
        api_key: int,
        body: Any,
        *,
        timeout_ms: int | None = None,
    ) -> Any:
        """One request to `node_id` (or any broker), retried on connection loss."""

        async def attempt() -> Any:
            connection = (
                await self.any_connection() if node_id is None else await self.connection(node_id)
            )
            return await connection.request(api_key, body)

        return await self.with_retries(attempt, timeout_ms=timeout_ms, what=f"API {api_key}")
