"""Three trio drivers on 127.0.0.1: elect, commit, lose the leader, recover; a killed
leader's survivors campaign at once; a link's proof that a peer's process is gone."""

from __future__ import annotations

import functools
import socket
from pathlib import Path

import trio

from flowlog.raft.driver import RaftDriver, StateMachine
from flowlog.raft.file_storage import FileRaftStorage
from flowlog.raft.messages import Entry, EntryKind, HardState, Snapshot
from flowlog.raft.raft_core import Role
from flowlog.raft.ready import Proposal, RaftConfig, Ready
from flowlog.raft.transport import RECONNECT_DELAY_S, PeerLink

TICK_INTERVAL_S = 0.02
TEST_TIMEOUT_S = 30


class Recorder(StateMachine):
    def __init__(self) -> None:
        self.payloads: list[bytes] = []

    def apply(self, entry: Entry) -> None:
        if entry.kind is EntryKind.DATA:
            self.payloads.append(entry.payload)

    def applied(self, payload: bytes) -> bool:
        return payload in self.payloads


class Node:
    def __init__(self, node_id: int, directory: Path, listeners: list[trio.SocketListener]):
        self.node_id = node_id
        self.directory = directory
        self.listeners = listeners
        self.port = listeners[0].socket.getsockname()[1]
        self.scope: trio.CancelScope | None = None
        self.driver: RaftDriver | None = None
        self.recorder = Recorder()

    async def start(
        self,
        nursery: trio.Nursery,
        addresses: dict[int, tuple[str, int]],
        election_timeout_ticks: int = 10,
    ) -> None:
        self.recorder = Recorder()
        config = RaftConfig(
            self.node_id, set(addresses), election_timeout_ticks=election_timeout_ticks
        )
        driver = RaftDriver(
            config, self.directory, self.listeners, addresses, self.recorder,
            tick_interval_s=TICK_INTERVAL_S, seed=self.node_id,
        )
        self.driver = driver

        async def run(task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
            with trio.CancelScope() as scope:
                self.scope = scope
                await driver.serve(task_status=task_status)

        await nursery.start(run)

    async def kill(self) -> None:
        """Like a crash: every task stops and every socket closes, now."""
        assert self.scope is not None
        self.scope.cancel()
        for listener in self.listeners:
            await listener.aclose()
        self.driver = None


async def wait_for_leader(nodes: list[Node]) -> Node:
    found: list[Node] = []

    async def watch(node: Node, driver: RaftDriver) -> None:
        await driver.wait_until(lambda: driver.node.role is Role.LEADER)
        found.append(node)
        nursery.cancel_scope.cancel()

    async with trio.open_nursery() as nursery:
        for node in nodes:
            if node.driver is not None:
                nursery.start_soon(watch, node, node.driver)
    return found[0]


async def propose_and_wait(leader: Node, live: list[Node], payload: bytes) -> None:
    assert leader.driver is not None
    result = leader.driver.propose(payload)
    assert isinstance(result, Proposal), result
    for node in live:
        assert node.driver is not None
        await node.driver.wait_until(functools.partial(node.recorder.applied, payload))


async def test_three_drivers_elect_commit_and_survive_losing_the_leader(tmp_path: Path) -> None:
    nodes = [
        Node(node_id, tmp_path / f"node{node_id}", await trio.open_tcp_listeners(0, host="127.0.0.1"))
        for node_id in (1, 2, 3)
    ]
    addresses = {node.node_id: ("127.0.0.1", node.port) for node in nodes}
    with trio.fail_after(TEST_TIMEOUT_S):
        async with trio.open_nursery() as nursery:
            for node in nodes:
                await node.start(nursery, addresses)
            leader = await wait_for_leader(nodes)
            for index in range(3):
                await propose_and_wait(leader, nodes, f"first{index}".encode())

            await leader.kill()
            survivors = [node for node in nodes if node is not leader]
            new_leader = await wait_for_leader(survivors)
            assert new_leader is not leader
            await propose_and_wait(new_leader, survivors, b"after the leader died")

            # The old leader restarts from its directory and catches up.
            leader.listeners = await trio.open_tcp_listeners(leader.port, host="127.0.0.1")
            await leader.start(nursery, addresses)
            await propose_and_wait(new_leader, nodes, b"all three again")
            assert leader.recorder.payloads == [
                b"first0", b"first1", b"first2", b"after the leader died", b"all three again"
            ]
            nursery.cancel_scope.cancel()


async def test_the_survivors_of_a_killed_leader_elect_long_before_their_timeout(
    tmp_path: Path,
) -> None:
    """Node 1 times out after 0.2 s and leads; nodes 2 and 3 would wait 10-20 s. They
    elect a leader within 5 s only because their links saw node 1's process go (the
    connection ended and a redial was refused) and they campaigned at once."""
    nodes = [
        Node(node_id, tmp_path / f"node{node_id}", await trio.open_tcp_listeners(0, host="127.0.0.1"))
        for node_id in (1, 2, 3)
    ]
    addresses = {node.node_id: ("127.0.0.1", node.port) for node in nodes}
    long_timeout_ticks = round(10 / TICK_INTERVAL_S)
    with trio.fail_after(TEST_TIMEOUT_S):
        async with trio.open_nursery() as nursery:
            for node in nodes:
                timeout = 10 if node.node_id == 1 else long_timeout_ticks
                await node.start(nursery, addresses, election_timeout_ticks=timeout)
            leader = await wait_for_leader(nodes)
            assert leader.node_id == 1
            await propose_and_wait(leader, nodes, b"before")
            old_term = leader.driver.node.term if leader.driver else 0

            await leader.kill()
            survivors = nodes[1:]
            with trio.fail_after(5):
                new_leader = await wait_for_leader(survivors)
            assert new_leader.driver is not None
            assert new_leader.driver.node.term == old_term + 1
            await propose_and_wait(new_leader, survivors, b"after")
            nursery.cancel_scope.cancel()


async def test_a_link_reports_a_peer_gone_only_after_it_had_accepted(tmp_path: Path) -> None:
    gone = trio.Event()
    (listener,) = await trio.open_tcp_listeners(0, host="127.0.0.1")
    port = listener.socket.getsockname()[1]
    with trio.fail_after(TEST_TIMEOUT_S):
        async with trio.open_nursery() as nursery:
            # Nothing ever listened at this address: refusals prove nothing.
            never = _unused_port()
            nursery.start_soon(PeerLink("127.0.0.1", never, on_gone=gone.set).run)
            await trio.sleep(5 * RECONNECT_DELAY_S)
            assert not gone.is_set()
            nursery.cancel_scope.cancel()
        async with trio.open_nursery() as nursery:
            accepted: list[trio.SocketStream] = []
            accepted_event = trio.Event()

            async def accept() -> None:
                accepted.append(await listener.accept())
                accepted_event.set()

            nursery.start_soon(accept)
            nursery.start_soon(PeerLink("127.0.0.1", port, on_gone=gone.set).run)
            await accepted_event.wait()
            await trio.sleep(2 * RECONNECT_DELAY_S)
            assert not gone.is_set()  # an idle, open connection is a live peer
            # The process "dies": its listener and its connections close.
            await listener.aclose()
            await accepted[0].aclose()
            await gone.wait()
            nursery.cancel_scope.cancel()


def _unused_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_file_storage_survives_a_torn_tail(tmp_path: Path) -> None:
    storage = FileRaftStorage.open(tmp_path)
    entries = tuple(Entry(index, 1, f"e{index}".encode()) for index in range(1, 6))
    storage.persist(Ready(HardState(1, 2), None, entries, (), ()))
    storage.persist(Ready(None, None, (Entry(4, 2, b"x"),), (), ()))
    storage.close()
    with open(tmp_path / "entries.log", "ab") as file:
        file.write(b"\x00\x00\x00\x30garbage")
    reopened = FileRaftStorage.open(tmp_path)
    state = reopened.persisted_state()
    assert state.hard_state == HardState(1, 2)
    assert [(e.index, e.term) for e in state.entries] == [(1, 1), (2, 1), (3, 1), (4, 2)]
    reopened.save_snapshot(Snapshot(2, 1, b"state"))
    reopened.close()
    again = FileRaftStorage.open(tmp_path).persisted_state()
    assert again.snapshot == Snapshot(2, 1, b"state")
    assert [entry.index for entry in again.entries] == [3, 4]
