"""One trio connection to one broker: pipelined requests matched by correlation id.

A connection runs two tasks in the nursery of the client that owns it: a
writer that sends queued frames in submission order, and a reader that splits
the byte stream into frames and hands each to the oldest waiting request
(Kafka answers in arrival order per connection; a mismatched correlation id
breaks the connection). `submit()` is synchronous so the order in which a
caller submits is the order on the wire: the producer relies on this for
idempotent sequence order.

Any failure (socket error, framing error, request timeout) closes the
connection and fails every request still waiting with KafkaConnectionError or
KafkaTimeoutError; the pool opens a new connection on next use.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Any, Final

import attrs
import trio

from flowlog.client.config import ClientConfig
from flowlog.client.errors import (
    KafkaConnectionError,
    KafkaError,
    KafkaTimeoutError,
    UnsupportedApiError,
)
from flowlog.protocol.codec import RequestHeader, decode_response, encode_request, find_api
from flowlog.protocol.errors import DecodeError, ErrorCode
from flowlog.protocol.framing import FrameDecoder, FramingError, frame_prefix
from flowlog.protocol.messages.api_versions import ApiVersionsRequest

API_VERSIONS_KEY: Final = 18
# ApiVersions version we try first (librdkafka does the same); the broker's
# UNSUPPORTED_VERSION answer tells us its range if it is older.
API_VERSIONS_FIRST_TRY: Final = 3
# Versions this client knows how to build and read, per API key: (min, max).
# Some caps are below the codec's range on purpose: OffsetFetch v8 and
# FindCoordinator v4 batch several groups, DeleteTopics v6 uses topic ids.
CLIENT_VERSIONS: Final[dict[int, tuple[int, int]]] = {
    0: (3, 9),  # Produce: magic-2 batches need v3+
    1: (4, 12),  # Fetch
    2: (1, 7),  # ListOffsets
    3: (1, 12),  # Metadata
    8: (2, 8),  # OffsetCommit
    9: (1, 7),  # OffsetFetch
    10: (0, 3),  # FindCoordinator
    11: (0, 7),  # JoinGroup
    12: (0, 4),  # Heartbeat
    13: (0, 5),  # LeaveGroup
    14: (0, 5),  # SyncGroup
    15: (0, 5),  # DescribeGroups
    16: (0, 4),  # ListGroups
    18: (0, 4),  # ApiVersions
    19: (2, 7),  # CreateTopics
    20: (1, 5),  # DeleteTopics
    21: (0, 2),  # DeleteRecords
    22: (0, 4),  # InitProducerId
    32: (1, 4),  # DescribeConfigs
    37: (0, 3),  # CreatePartitions
    42: (0, 2),  # DeleteGroups
    44: (0, 1),  # IncrementalAlterConfigs
    55: (0, 0),  # DescribeQuorum (flowlog cluster describe)
    60: (0, 2),  # DescribeCluster: v2 lists fenced brokers
}
# Frames the writer joins into one send_all, at most.
WRITE_COALESCE_MAX_FRAMES: Final = 64

BodyOrBuilder = Any | Callable[[int], Any]


class PendingRequest:
    """A submitted request; `await pending.wait()` gives the decoded response body."""

    __slots__ = ("api_key", "version", "correlation_id", "_event", "_result", "_error")

    def __init__(self, api_key: int, version: int, correlation_id: int) -> None:
        self.api_key = api_key
        self.version = version
        self.correlation_id = correlation_id
        self._event = trio.Event()
        self._result: Any = None
        self._error: BaseException | None = None

    def set_result(self, result: Any) -> None:
        self._result = result
        self._event.set()

    def set_error(self, error: BaseException) -> None:
        if not self._event.is_set():
            self._error = error
            self._event.set()

    def is_done(self) -> bool:
        return self._event.is_set()

    async def wait(self) -> Any:
        await self._event.wait()
        if self._error is not None:
            raise self._error
        return self._result


@attrs.define
class ConnectionStatistics:
    requests_sent: int = 0
    responses_received: int = 0
    bytes_sent: int = 0
    bytes_received: int = 0
    in_flight: int = 0


class BrokerConnection:
    def __init__(
        self, stream: trio.abc.Stream, *, node_id: int, host: str, port: int, config: ClientConfig
    ) -> None:
        self.node_id = node_id
        self.host = host
        self.port = port
        self._stream = stream
        self._config = config
        self._max_in_flight = config.max_in_flight_requests_per_connection
        self._pending: deque[PendingRequest] = deque()
        self._send_channel, self._receive_channel = trio.open_memory_channel[
            tuple[bytes, PendingRequest | None]
        ](self._max_in_flight)
        self._decoder = FrameDecoder(config.max_response_size_bytes)
        self._next_correlation_id = 0
        self._in_flight = 0
        self._capacity_lot = trio.lowlevel.ParkingLot()
        self._cancel_scope = trio.CancelScope()
        self._closed_error: KafkaError | None = None
        self.api_versions: dict[int, tuple[int, int]] = {}
        self._stats = ConnectionStatistics()

    def __repr__(self) -> str:
        return f"<BrokerConnection node={self.node_id} {self.host}:{self.port}>"

    # ---------------------------------------------------------------- lifecycle

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Reader and writer; returns when the connection closes. Never raises."""
        with self._cancel_scope:
            try:
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(self._write_loop)
                    task_status.started()
                    await self._read_loop()
            except Exception as error:  # the owner's nursery must survive a broken socket
                self.close(KafkaConnectionError(f"{self}: {error!r}"))
        with trio.CancelScope(shield=True):
            await trio.aclose_forcefully(self._stream)

    @property
    def closed(self) -> bool:
        return self._closed_error is not None

    def close(self, error: KafkaError | None = None) -> None:
        """Stop both tasks and fail every waiting request with `error`."""
        if self._closed_error is not None:
            return
        self._closed_error = error or KafkaConnectionError(f"{self} closed")
        self._cancel_scope.cancel()
        while self._pending:
            self._pending.popleft().set_error(self._closed_error)
        self._capacity_lot.unpark_all()

    def statistics(self) -> ConnectionStatistics:
        return attrs.evolve(self._stats, in_flight=self._in_flight)

    # ---------------------------------------------------------------- versions

    async def negotiate(self) -> None:
        """ApiVersions: learn the broker's range for each API."""
        version = API_VERSIONS_FIRST_TRY
        for _attempt in range(2):
            response = await self.request(API_VERSIONS_KEY, ApiVersionsRequest(), version=version)
            if response.error_code == ErrorCode.UNSUPPORTED_VERSION:
                ranges = {key.api_key: key.max_version for key in response.api_keys}
                version = min(ranges.get(API_VERSIONS_KEY, 0), API_VERSIONS_FIRST_TRY)
                continue
            if response.error_code != ErrorCode.NONE:
                raise KafkaConnectionError(
                    f"{self}: ApiVersions failed with error {response.error_code}"
                )
            self.api_versions = {
                key.api_key: (key.min_version, key.max_version) for key in response.api_keys
            }
            return
        raise KafkaConnectionError(f"{self}: ApiVersions negotiation did not converge")

    def supports(self, api_key: int) -> bool:
        try:
            self.version_for(api_key)
        except UnsupportedApiError:
            return False
        return True

    def version_for(self, api_key: int) -> int:
        """min(our max, broker max), or UnsupportedApiError if the ranges do not meet."""
        ours = CLIENT_VERSIONS.get(api_key)
        name = _api_name(api_key)
        if ours is None:
            raise UnsupportedApiError(f"the client does not speak {name} (key {api_key})")
        if api_key == API_VERSIONS_KEY and not self.api_versions:
            return API_VERSIONS_FIRST_TRY
        theirs = self.api_versions.get(api_key)
        if theirs is None:
            raise UnsupportedApiError(
                f"broker {self.host}:{self.port} does not offer {name} (key {api_key})"
            )
        version = min(ours[1], theirs[1])
        if version < max(ours[0], theirs[0]):
            raise UnsupportedApiError(
                f"broker {self.host}:{self.port} offers {name} v{theirs[0]}-{theirs[1]}, "
                f"the client speaks v{ours[0]}-{ours[1]}"
            )
        return version

    # ---------------------------------------------------------------- requests

    @property
    def in_flight(self) -> int:
        return self._in_flight

    def has_capacity(self) -> bool:
        return self._in_flight < self._max_in_flight and not self.closed

    async def wait_capacity(self) -> None:
        """Block until a request can be submitted (or the connection closed)."""
        while not self.has_capacity():
            if self.closed:
                assert self._closed_error is not None
                raise self._closed_error
            await self._capacity_lot.park()

    def submit(
        self,
        api_key: int,
        body: BodyOrBuilder,
        *,
        version: int | None = None,
        expect_response: bool = True,
    ) -> PendingRequest | None:
        """Queue a request now (no await). Requires has_capacity(); None if no response."""
        if self._closed_error is not None:
            raise self._closed_error
        assert self._in_flight < self._max_in_flight, "submit() without capacity"
        if version is None:
            version = self.version_for(api_key)
        if callable(body):
            body = body(version)
        self._next_correlation_id = (self._next_correlation_id + 1) & 0x7FFFFFFF
        correlation_id = self._next_correlation_id
        header = RequestHeader(api_key, version, correlation_id, self._config.client_id)
        payload = encode_request(header, body)
        frame = frame_prefix(len(payload)) + payload
        pending = PendingRequest(api_key, version, correlation_id) if expect_response else None
        if pending is not None:
            self._pending.append(pending)
        self._in_flight += 1
        self._send_channel.send_nowait((frame, pending))
        self._stats.requests_sent += 1
        return pending

    async def request(
        self,
        api_key: int,
        body: BodyOrBuilder,
        *,
        version: int | None = None,
        timeout_ms: int | None = None,
    ) -> Any:
        """Submit (waiting for capacity) and wait for the response within the request timeout."""
        await self.wait_capacity()
        pending = self.submit(api_key, body, version=version)
        assert pending is not None
        return await self.wait_response(pending, timeout_ms)

    async def wait_response(self, pending: PendingRequest, timeout_ms: int | None = None) -> Any:
        timeout_s = (timeout_ms or self._config.request_timeout_ms) / 1000
        with trio.move_on_after(timeout_s):
            return await pending.wait()
        error = KafkaTimeoutError(
            f"{self}: no {_api_name(pending.api_key)} response within {timeout_s * 1000:.0f} ms"
        )
        # The response may still arrive; a fresh connection is simpler than tracking it.
        self.close(error)
        raise error

    # ---------------------------------------------------------------- tasks

    async def _write_loop(self) -> None:
        try:
            async for frame, pending in self._receive_channel:
                frames = [frame]
                written_without_response = 0 if pending is not None else 1
                while len(frames) < WRITE_COALESCE_MAX_FRAMES:
                    try:
                        frame, pending = self._receive_channel.receive_nowait()
                    except trio.WouldBlock:
                        break
                    frames.append(frame)
                    written_without_response += pending is None
                data = b"".join(frames) if len(frames) > 1 else frames[0]
                await self._stream.send_all(data)
                self._stats.bytes_sent += len(data)
                if written_without_response:
                    self._release(written_without_response)
        except (trio.BrokenResourceError, trio.ClosedResourceError, OSError) as error:
            self.close(KafkaConnectionError(f"{self}: send failed: {error!r}"))

    async def _read_loop(self) -> None:
        size = self._config.receive_buffer_bytes
        while True:
            try:
                data = await self._stream.receive_some(size)
            except (trio.BrokenResourceError, trio.ClosedResourceError, OSError) as error:
                self.close(KafkaConnectionError(f"{self}: receive failed: {error!r}"))
                return
            if not data:
                self.close(KafkaConnectionError(f"{self}: closed by the broker"))
                return
            self._stats.bytes_received += len(data)
            self._decoder.feed(data)
            try:
                while (frame := self._decoder.next_frame()) is not None:
                    self._dispatch(frame)
            except (FramingError, DecodeError, KafkaConnectionError) as error:
                self.close(KafkaConnectionError(f"{self}: bad response: {error}"))
                return

    def _dispatch(self, frame: bytes | memoryview) -> None:
        if not self._pending:
            raise KafkaConnectionError("a response arrived with no request waiting")
        pending = self._pending.popleft()
        try:
            correlation_id, body = decode_response(pending.api_key, pending.version, frame)
        except DecodeError:
            if pending.api_key != API_VERSIONS_KEY:
                raise
            # A broker older than our ApiVersions version answers with a v0 body.
            correlation_id, body = decode_response(pending.api_key, 0, frame)
        if correlation_id != pending.correlation_id:
            raise KafkaConnectionError(
                f"correlation id {correlation_id} where {pending.correlation_id} was expected"
            )
        self._stats.responses_received += 1
        self._release(1)
        pending.set_result(body)

    def _release(self, count: int) -> None:
        self._in_flight -= count
        self._capacity_lot.unpark_all()


def _api_name(api_key: int) -> str:
    try:
        return find_api(api_key).name
    except Exception:
        return f"API {api_key}"


async def open_connection(
    nursery: trio.Nursery, host: str, port: int, *, node_id: int, config: ClientConfig
) -> BrokerConnection:
    """Connect, start the connection's tasks in `nursery`, negotiate versions."""
    try:
        with trio.fail_after(config.connect_timeout_ms / 1000):
            stream = await trio.open_tcp_stream(host, port)
    except trio.TooSlowError:
        raise KafkaTimeoutError(
            f"connecting to {host}:{port} took over {config.connect_timeout_ms} ms"
        ) from None
    except OSError as error:
        raise KafkaConnectionError(f"cannot connect to {host}:{port}: {error}") from error
    connection = BrokerConnection(stream, node_id=node_id, host=host, port=port, config=config)
    await nursery.start(connection.run)
    try:
        await connection.negotiate()
    except BaseException:
        connection.close()
        raise
    return connection
