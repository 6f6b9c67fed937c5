"""Fast detection of dead brokers: the active controller keeps an idle TCP connection
open to every other live broker's client listener.

Heartbeats alone find a dead broker only after `broker.session.timeout.ms` (9 s by
default). A killed process closes its sockets at once, so the watch connection ends;
the controller then dials the broker again, and a refused connection (nothing listens
on that port any more) means the process is gone: the broker's session is ended now.
Anything less certain (a connect that times out, as behind a partition or a stalled
process, whose kernel still accepts) proves nothing and leaves it to the session
timeout. A refusal before the address ever accepted the watch (a new controller whose
predecessor's node died with a broker on it) counts once per broker and term: a wrong
advertised address then fences a live broker once, not every time it heartbeats.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping

import trio

from flowlog.raft.connection_errors import is_refusal

log = logging.getLogger(__name__)

# A dial that takes longer proves nothing (a partition, a stalled host).
CONNECT_TIMEOUT_S = 2.0
# Between watch attempts to a broker that does not accept (or has not yet).
REDIAL_DELAY_S = 0.5
RECEIVE_BYTES = 4096

Address = tuple[str, int]


class _Refused(Exception):
    """Nothing listens at the broker's address."""


async def _dial(address: Address) -> trio.SocketStream | None:
    """A connection, None when the dial proves nothing, _Refused when refused."""
    try:
        with trio.move_on_after(CONNECT_TIMEOUT_S):
            return await trio.open_tcp_stream(*address)
        return None
    except OSError as error:
        if is_refusal(error):
            raise _Refused from error
        return None


async def watch_broker(
    node_id: int, address: Address, on_dead: Callable[[int], None], trust_first_refusal: bool
) -> None:
    """Until cancelled or the broker is found dead (then on_dead(node_id) and return)."""
    accepted_once = False
    while True:
        try:
            stream = await _dial(address)
        except _Refused:
            if accepted_once or trust_first_refusal:
                log.warning("broker %d refuses connections at %s:%d: its process is gone",
                            node_id, *address)
                on_dead(node_id)
                return
            stream = None
        if stream is None:
            await trio.sleep(REDIAL_DELAY_S)
            continue
        accepted_once = True
        async with stream:
            try:
                # The broker never writes unasked; this returns when the connection ends.
                while await stream.receive_some(RECEIVE_BYTES):
                    pass
            except (trio.BrokenResourceError, OSError):
                pass


class BrokerWatchers:
    """One watch task per live broker other than this node, kept in step with the
    metadata by reconcile(); all of them end with the nursery (leadership lost)."""

    def __init__(self, nursery: trio.Nursery, on_dead: Callable[[int], None]) -> None:
        self._nursery = nursery
        self._on_dead = on_dead
        self._watching: dict[int, tuple[Address, trio.CancelScope]] = {}
        # Brokers already declared dead this term: for them a refusal that no accepted
        # dial preceded no longer counts (once per broker and term).
        self._refused_unproven: set[int] = set()

    def reconcile(self, live: Mapping[int, Address]) -> None:
        for node_id, (address, scope) in list(self._watching.items()):
            if live.get(node_id) != address:
                scope.cancel()
                del self._watching[node_id]
        for node_id, address in live.items():
            if node_id not in self._watching:
                scope = trio.CancelScope()
                self._watching[node_id] = (address, scope)
                self._nursery.start_soon(self._run, node_id, address, scope)

    async def _run(self, node_id: int, address: Address, scope: trio.CancelScope) -> None:
        trust_first_refusal = node_id not in self._refused_unproven

        def dead(node_id: int) -> None:
            self._refused_unproven.add(node_id)
            self._on_dead(node_id)

        with scope:
            await watch_broker(node_id, address, dead, trust_first_refusal)
