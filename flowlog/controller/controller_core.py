"""The controller: every metadata operation, validated against the state, as records.

Sans-IO. An operation reads the MetadataState and returns an OperationResult (records
to append, one result per item); it never changes the state. The caller appends the
records (MetadataStore.apply) before running the next operation, so each operation
sees all earlier ones. The logic lives in the *_operations_core modules; this class
binds them to one state, one random source and the broker's defaults.
"""

from __future__ import annotations

from collections.abc import Sequence

from flowlog.controller import (
    broker_fencing_core,
    broker_operations_core,
    config_operations_core,
    partition_operations_core,
)
from flowlog.controller import topic_operations_core as topic_operations
from flowlog.controller.controller_api import (
    AlterConfigsResource,
    AlterPartitionItem,
    AlterPartitionResult,
    BrokerResult,
    ConfigResourceResult,
    ControllerDefaults,
    CreatePartitionsResult,
    CreateTopicResult,
    DeleteTopicResult,
    ElectionPolicy,
    IncrementalAlterConfigsResource,
    NewPartitions,
    NewTopic,
    OperationResult,
    ProducerIdBlock,
    RandomSource,
)
from flowlog.controller.metadata_state import MetadataState


class ControllerCore:
    def __init__(
        self,
        state: MetadataState,
        random_source: RandomSource,
        defaults: ControllerDefaults | None = None,
        policy: ElectionPolicy | None = None,
    ) -> None:
        self._state = state
        self._random_source = random_source
        self._defaults = defaults or ControllerDefaults()
        self._policy = policy or ElectionPolicy()

    @property
    def state(self) -> MetadataState:
        return self._state

    def create_topics(
        self, topics: Sequence[NewTopic], validate_only: bool = False
    ) -> OperationResult[CreateTopicResult]:
        return topic_operations.create_topics(
            self._state, self._random_source, self._defaults, topics, validate_only
        )

    def delete_topics(
        self, names: Sequence[str] = (), topic_ids: Sequence[bytes] = ()
    ) -> OperationResult[DeleteTopicResult]:
        return topic_operations.delete_topics(self._state, names, topic_ids)

    def create_partitions(
        self, topics: Sequence[NewPartitions], validate_only: bool = False
    ) -> OperationResult[CreatePartitionsResult]:
        return topic_operations.create_partitions(
            self._state, self._random_source, topics, validate_only
        )

    def alter_configs(
        self, resources: Sequence[AlterConfigsResource], validate_only: bool = False
    ) -> OperationResult[ConfigResourceResult]:
        return config_operations_core.alter_configs(self._state, resources, validate_only)

    def incremental_alter_configs(
        self, resources: Sequence[IncrementalAlterConfigsResource], validate_only: bool = False
    ) -> OperationResult[ConfigResourceResult]:
        return config_operations_core.incremental_alter_configs(
            self._state, resources, validate_only
        )

    def register_broker(
        self, node_id: int, host: str, port: int, rack: str | None, incarnation_id: bytes
    ) -> OperationResult[BrokerResult]:
        return broker_operations_core.register_broker(
            self._state, node_id, host, port, rack, incarnation_id, self._policy
        )

    def unregister_broker(self, node_id: int) -> OperationResult[BrokerResult]:
        return broker_operations_core.unregister_broker(self._state, node_id)

    def allocate_producer_ids(
        self, broker_id: int, block_size: int
    ) -> OperationResult[ProducerIdBlock]:
        return broker_operations_core.allocate_producer_ids(self._state, broker_id, block_size)

    def fence_broker(self, node_id: int) -> OperationResult[BrokerResult]:
        return broker_fencing_core.fence_broker(self._state, node_id, self._policy)

    def unfence_broker(self, node_id: int) -> OperationResult[BrokerResult]:
        return broker_fencing_core.unfence_broker(self._state, node_id, self._policy)

    def controlled_shutdown(self, node_id: int) -> OperationResult[BrokerResult]:
        return broker_fencing_core.controlled_shutdown(self._state, node_id)

    def alter_partition(
        self, broker_id: int, broker_epoch: int, items: Sequence[AlterPartitionItem]
    ) -> OperationResult[AlterPartitionResult]:
        return partition_operations_core.alter_partition(
            self._state, broker_id, broker_epoch, items
        )

    def elect_preferred_leaders(self) -> OperationResult[None]:
        return OperationResult(partition_operations_core.elect_preferred_leaders(self._state), ())
