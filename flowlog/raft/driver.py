"""The trio shell around RaftNode: storage, transport, timer, and the Ready loop.

One task owns the node. It takes inputs (peer messages, timer ticks, a link's proof
that a peer's process is gone) from one bounded channel and, after each batch, handles
every Ready in the contract's order: persist with fsync (in a worker thread), then
send, then apply, then advance. Proposals call the node directly (trio runs one task
at a time) and wake the loop.
"""

from __future__ import annotations

import functools
import logging
import random
from collections.abc import Callable
from pathlib import Path

import attrs
import trio

from flowlog.raft.file_storage import FileRaftStorage
from flowlog.raft.messages import Entry, Message, Snapshot
from flowlog.raft.raft_core import RaftNode
from flowlog.raft.ready import ProposeResult, RaftConfig, Ready
from flowlog.raft.transport import PeerLink, serve_connection

log = logging.getLogger(__name__)

TICK = "tick"
WAKE = "wake"
INBOX_MAX = 4096
# Inputs stepped before the next Ready is handled: batches fsyncs under load.
INPUTS_PER_BATCH_MAX = 256


@attrs.frozen
class PeerGone:
    """An inbox item: the peer's link has proof that its process is gone."""

    peer: int


Input = Message | str | PeerGone


class StateMachine:
    """What the driver applies to; the default one ignores everything."""

    def apply(self, entry: Entry) -> None:
        return None

    def restore(self, snapshot: Snapshot) -> None:
        return None

    def applied_batch(self) -> None:
        """Called once after each Ready's entries are applied (batch work goes here)."""
        return None

    def take_snapshot(self) -> Snapshot | None:
        """A snapshot of the applied state to compact the log with, or None for not now."""
        return None


class RaftDriver:
    def __init__(
        self,
        config: RaftConfig,
        directory: Path,
        listeners: list[trio.SocketListener],
        peer_addresses: dict[int, tuple[str, int]],
        state_machine: StateMachine | None = None,
        tick_interval_s: float = 0.05,
        seed: int | None = None,
    ) -> None:
        self.config = config
        self.storage = FileRaftStorage.open(directory)
        self.node = RaftNode(config, random.Random(seed), self.storage.persisted_state())
        self.state_machine = state_machine or StateMachine()
        self._listeners = listeners
        self._links = {
            peer: PeerLink(host, port, on_gone=functools.partial(self._put, PeerGone(peer)))
            for peer, (host, port) in peer_addresses.items()
            if peer != config.node_id
        }
        self._tick_interval_s = tick_interval_s
        self._inbox_send, self._inbox_receive = trio.open_memory_channel[Input](INBOX_MAX)
        self._changed = trio.Event()

    async def serve(self, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Run until cancelled; the caller resumes once the node is running."""
        try:
            async with trio.open_nursery() as nursery:
                if self._listeners:
                    nursery.start_soon(
                        trio.serve_listeners, self._serve_connection, self._listeners
                    )
                for link in self._links.values():
                    nursery.start_soon(link.run)
                nursery.start_soon(self._tick_forever)
                nursery.start_soon(self._run_node)
                if self.config.voters == {self.config.node_id}:
                    # A lone voter cannot split a vote: campaign now, not after a timeout.
                    for _ in range(2 * self.config.election_timeout_ticks):
                        self._put(TICK)
                task_status.started()
        finally:
            self.storage.close()

    def deliver(self, message: Message) -> None:
        """A message from a peer, received by a listener the caller runs."""
        self._put(message)

    def propose(self, payload: bytes) -> ProposeResult:
        result = self.node.propose(payload)
        self._put(WAKE)
        return result

    async def wait_until(self, predicate: Callable[[], bool]) -> None:
        """Wait until predicate() holds; it is rechecked after every handled input."""
        while not predicate():
            await self._changed.wait()

    # -- tasks ---------------------------------------------------------------------------

    async def _serve_connection(self, stream: trio.SocketStream) -> None:
        await serve_connection(stream, self._put)

    async def _tick_forever(self) -> None:
        while True:
            await trio.sleep(self._tick_interval_s)
            self._put(TICK)

    async def _run_node(self) -> None:
        while True:
            await self._handle_readies()
            item = await self._inbox_receive.receive()
            for _ in range(INPUTS_PER_BATCH_MAX):
                self._handle_input(item)
                try:
                    item = self._inbox_receive.receive_nowait()
                except trio.WouldBlock:
                    break
            else:
                self._handle_input(item)

    def _handle_input(self, item: Input) -> None:
        if item == TICK:
            self.node.tick()
        elif isinstance(item, PeerGone):
            if item.peer == self.node.leader_id:
                log.info("raft node %d: leader %d's process is gone (connection refused): "
                         "campaigning early", self.config.node_id, item.peer)
            self.node.peer_gone(item.peer)
        elif not isinstance(item, str):
            self.node.step(item)

    async def _handle_readies(self) -> None:
        while self.node.has_ready():
            ready = self.node.ready()
            if ready.must_persist:
                await trio.to_thread.run_sync(self.storage.persist, ready)
            for message in ready.messages:
                link = self._links.get(message.recipient)
                if link is not None:
                    link.send_nowait(message)
            self._apply(ready)
            self.node.advance(ready)
            self.state_machine.applied_batch()
            await self._maybe_compact()
        self._changed.set()
        self._changed = trio.Event()

    async def _maybe_compact(self) -> None:
        snapshot = self.state_machine.take_snapshot()
        if snapshot is None:
            return
        # No Ready is in flight here, so the storage has a single user.
        await trio.to_thread.run_sync(self.storage.save_snapshot, snapshot)
        self.node.compact(snapshot)

    def _apply(self, ready: Ready) -> None:
        if ready.snapshot is not None:
            self.state_machine.restore(ready.snapshot)
        for entry in ready.committed_entries:
            self.state_machine.apply(entry)

    def _put(self, item: Input) -> None:
        try:
            self._inbox_send.send_nowait(item)
        except trio.WouldBlock:
            pass  # Overloaded: a lost message or tick is a delay Raft recovers from.
