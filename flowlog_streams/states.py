"""The app's lifecycle states and the moves between them (Kafka Streams' KafkaStreams.State)."""

from __future__ import annotations

import enum
from collections.abc import Callable


class State(enum.Enum):
    CREATED = "CREATED"
    REBALANCING = "REBALANCING"
    RUNNING = "RUNNING"
    PENDING_SHUTDOWN = "PENDING_SHUTDOWN"
    NOT_RUNNING = "NOT_RUNNING"
    ERROR = "ERROR"

    def is_running_or_rebalancing(self) -> bool:
        return self in (State.RUNNING, State.REBALANCING)


# Every legal move; anything else is a bug and raises.
TRANSITIONS: dict[State, frozenset[State]] = {
    State.CREATED: frozenset({State.REBALANCING, State.PENDING_SHUTDOWN, State.ERROR}),
    State.REBALANCING: frozenset({State.RUNNING, State.PENDING_SHUTDOWN, State.ERROR}),
    State.RUNNING: frozenset({State.REBALANCING, State.PENDING_SHUTDOWN, State.ERROR}),
    State.PENDING_SHUTDOWN: frozenset({State.NOT_RUNNING, State.ERROR}),
    State.NOT_RUNNING: frozenset(),
    State.ERROR: frozenset(),
}

# listener(new_state, old_state), as Kafka Streams' StateListener.onChange.
StateListener = Callable[[State, State], None]


class StateMachine:
    def __init__(self, listener: StateListener | None = None) -> None:
        self.state = State.CREATED
        self.listeners: list[StateListener] = [listener] if listener else []

    def move(self, new: State) -> bool:
        """Move to `new`; False if already there. Illegal moves raise."""
        old = self.state
        if new is old:
            return False
        if new not in TRANSITIONS[old]:
            raise RuntimeError(f"illegal state change {old.value} -> {new.value}")
        self.state = new
        for listener in self.listeners:
            listener(new, old)
        return True
