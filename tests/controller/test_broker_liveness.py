"""The controller's broker watch on real loopback sockets: a listener that goes away is
a dead broker; an idle close, or an address that never accepted, is not."""

from __future__ import annotations

import socket

import trio

from flowlog.controller.broker_liveness import BrokerWatchers, watch_broker
from flowlog.controller.broker_sessions_core import BrokerSessions


class _Deaths:
    """on_dead's record, with an event to wait on instead of polling."""

    def __init__(self) -> None:
        self.nodes: list[int] = []
        self.seen = trio.Event()

    def __call__(self, node_id: int) -> None:
        self.nodes.append(node_id)
        self.seen.set()


async def _listener() -> tuple[trio.SocketListener, tuple[str, int]]:
    (listener,) = await trio.open_tcp_listeners(0, host="127.0.0.1")
    return listener, listener.socket.getsockname()[:2]


def _unused_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_a_closed_listener_is_a_dead_broker() -> None:
    listener, address = await _listener()
    dead = _Deaths()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(watch_broker, 7, address, dead, False)
        connection = await listener.accept()
        await trio.sleep(0.05)
        assert dead.nodes == []
        # The process dies: its listener and connections close together.
        await listener.aclose()
        await connection.aclose()
        with trio.fail_after(5):
            await dead.seen.wait()
    assert dead.nodes == [7]


async def test_an_idle_close_with_the_listener_still_open_is_not_death() -> None:
    listener, address = await _listener()
    dead: list[int] = []
    async with listener, trio.open_nursery() as nursery:
        nursery.start_soon(watch_broker, 7, address, dead.append, False)
        first = await listener.accept()
        await first.aclose()
        # The watcher dials again and is accepted: still alive.
        with trio.fail_after(5):
            second = await listener.accept()
        await trio.sleep(0.1)
        assert dead == []
        await second.aclose()
        nursery.cancel_scope.cancel()


async def test_a_first_refusal_counts_only_when_trusted() -> None:
    address = ("127.0.0.1", _unused_port())
    dead: list[int] = []
    with trio.move_on_after(1.2):
        await watch_broker(3, address, dead.append, False)
    assert dead == []
    with trio.fail_after(5):
        await watch_broker(3, address, dead.append, True)
    assert dead == [3]


async def test_watchers_trust_a_first_refusal_once_per_broker() -> None:
    address = ("127.0.0.1", _unused_port())
    dead = _Deaths()
    async with trio.open_nursery() as nursery:
        watchers = BrokerWatchers(nursery, dead)
        watchers.reconcile({3: address})
        with trio.fail_after(5):
            await dead.seen.wait()
        # Fenced, then back (a heartbeat unfenced it) at the same wrong address: no
        # second fence from a refusal that no accepted dial preceded.
        watchers.reconcile({})
        watchers.reconcile({3: address})
        await trio.sleep(1.2)
        assert dead.nodes == [3]
        nursery.cancel_scope.cancel()


def test_an_expired_session_is_reported_at_once() -> None:
    sessions = BrokerSessions(9_000)
    sessions.start_all([1, 2], now_ms=1_000)
    sessions.expire(2, now_ms=1_500)
    assert sessions.expired([1, 2], now_ms=1_500) == [2]
    # A heartbeat after all (it was not dead) starts the session again.
    sessions.touch(2, now_ms=1_600)
    assert sessions.expired([1, 2], now_ms=1_600) == []
