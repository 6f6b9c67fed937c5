"""Test helpers: a controller over an in-memory state, applying records as a store would."""

from __future__ import annotations

import random
from collections.abc import Mapping
from typing import TypeVar

from flowlog.controller.controller_api import (
    ControllerDefaults,
    ElectionPolicy,
    NewTopic,
    OperationResult,
)
from flowlog.controller.controller_core import ControllerCore
from flowlog.controller.metadata_records import MetadataRecord
from flowlog.controller.metadata_state import MetadataState
from flowlog.protocol.errors import ErrorCode

ResultT = TypeVar("ResultT")


def replay_all(state: MetadataState, records: tuple[MetadataRecord, ...]) -> None:
    for record in records:
        state.replay(record, state.last_applied_offset + 1)


def incarnation(node_id: int, generation: int = 0) -> bytes:
    return bytes([node_id % 256, generation % 256]) + bytes(14)


class MemoryCluster:
    """A MetadataState, a seeded ControllerCore on it, and helpers to run operations."""

    def __init__(
        self,
        seed: int = 7,
        defaults: ControllerDefaults | None = None,
        policy: ElectionPolicy | None = None,
    ) -> None:
        self.state = MetadataState()
        self.core = ControllerCore(self.state, random.Random(seed), defaults, policy)

    def run(self, operation: OperationResult[ResultT]) -> tuple[ResultT, ...]:
        """Apply the operation's records and return its results."""
        replay_all(self.state, operation.records)
        return operation.results

    def add_brokers(self, *node_ids: int) -> None:
        for node_id in node_ids:
            (result,) = self.run(
                self.core.register_broker(node_id, f"host{node_id}", 9092, None, incarnation(node_id))
            )
            assert result.error_code == ErrorCode.NONE

    def create_topic(
        self,
        name: str,
        partitions: int = 1,
        replication_factor: int = 1,
        configs: Mapping[str, str] | None = None,
    ) -> bytes:
        (result,) = self.run(
            self.core.create_topics(
                [NewTopic(name, partitions, replication_factor, configs=configs or {})]
            )
        )
        assert result.error_code == ErrorCode.NONE, result
        assert result.topic_id is not None
        return result.topic_id
