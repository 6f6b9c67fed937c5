"""Random operation sequences: replaying the log always rebuilds an equal state.

Each example drives a ControllerCore over a real MetadataStore in a temporary data dir,
checks the state's invariants after every step, then checks that reopening the store and
replaying the log file into a fresh state both give a state equal to the live one.
"""

from __future__ import annotations

import random
import tempfile
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st
from metadata_harness import incarnation

from flowlog.controller.controller_api import (
    AlterConfigOp,
    AlterConfigOpType,
    AlterPartitionItem,
    IncrementalAlterConfigsResource,
    NewPartitions,
    NewTopic,
    OperationResult,
    ProducerIdBlock,
)
from flowlog.controller.controller_core import ControllerCore
from flowlog.controller.metadata_log import MetadataLog
from flowlog.controller.metadata_records import ConfigResourceType, decode_record_batch
from flowlog.controller.metadata_snapshot import decode_snapshot, encode_snapshot
from flowlog.controller.metadata_state import MetadataState
from flowlog.controller.metadata_store import METADATA_DIRECTORY_NAME, MetadataStore
from flowlog.protocol.errors import ErrorCode

NAMES = ["a", "b", "c.d", "c_d"]
BROKERS = st.integers(0, 3)

operations = st.one_of(
    st.tuples(st.just("register"), BROKERS, st.integers(0, 2)),
    st.tuples(st.just("unregister"), BROKERS),
    st.tuples(st.just("create"), st.sampled_from(NAMES), st.integers(-1, 4), st.integers(-1, 3)),
    st.tuples(st.just("delete"), st.sampled_from(NAMES)),
    st.tuples(st.just("grow"), st.sampled_from(NAMES), st.integers(1, 6)),
    st.tuples(st.just("config"), st.sampled_from(NAMES),
              st.sampled_from(list(AlterConfigOpType)), st.sampled_from(["compact", "delete"])),
    st.tuples(st.just("producer_ids"), BROKERS, st.integers(1, 50)),
    st.tuples(st.just("fence"), BROKERS),
    st.tuples(st.just("unfence"), BROKERS),
    st.tuples(st.just("shutdown"), BROKERS),
    st.tuples(st.just("preferred")),
    st.tuples(st.just("expand_isr"), st.sampled_from(NAMES)),
)
# Brokers first, so most later operations act on a cluster that can hold topics.
histories = st.tuples(
    st.lists(st.tuples(st.just("register"), BROKERS, st.just(0)), min_size=1, max_size=4),
    st.lists(operations, min_size=1, max_size=25),
).map(lambda parts: parts[0] + parts[1])


def run_operation(core: ControllerCore, operation: tuple[object, ...]) -> OperationResult[object]:
    kind, *arguments = operation
    match kind, arguments:
        case "register", [int(node_id), int(generation)]:
            return core.register_broker(node_id, f"h{node_id}", 9092, None,
                                        incarnation(node_id, generation))
        case "unregister", [int(node_id)]:
            return core.unregister_broker(node_id)
        case "create", [str(name), int(partitions), int(replication_factor)]:
            return core.create_topics([NewTopic(name, partitions, replication_factor)])
        case "delete", [str(name)]:
            return core.delete_topics(names=[name])
        case "grow", [str(name), int(count)]:
            return core.create_partitions([NewPartitions(name, count)])
        case "config", [str(name), AlterConfigOpType() as op_type, str(value)]:
            change = AlterConfigOp("cleanup.policy", op_type, value)
            resource = IncrementalAlterConfigsResource(int(ConfigResourceType.TOPIC), name, [change])
            return core.incremental_alter_configs([resource])
        case "producer_ids", [int(node_id), int(block_size)]:
            return core.allocate_producer_ids(node_id, block_size)
        case "fence", [int(node_id)]:
            return core.fence_broker(node_id)
        case "unfence", [int(node_id)]:
            return core.unfence_broker(node_id)
        case "shutdown", [int(node_id)]:
            return core.controlled_shutdown(node_id)
        case "preferred", []:
            return core.elect_preferred_leaders()
        case "expand_isr", [str(name)]:
            return expand_isr(core, name)
    raise AssertionError(f"unknown operation {operation}")


def expand_isr(core: ControllerCore, name: str) -> OperationResult[object]:
    """What a partition leader does once followers caught up: every live replica joins."""
    state = core.state
    topic = state.topic_by_name(name)
    if topic is None:
        return OperationResult((), ())
    partition = state.partitions(topic.topic_id)[0]
    leader = state.broker(partition.leader)
    if leader is None:
        return OperationResult((), ())
    isr = partition.isr + tuple(
        replica for replica in partition.replicas
        if replica not in partition.isr and state.is_live(replica)
    )
    item = AlterPartitionItem(
        topic.topic_id, 0, partition.leader_epoch, partition.partition_epoch, isr
    )
    return core.alter_partition(leader.node_id, leader.epoch, [item])  # type: ignore[return-value]


def check_invariants(state: MetadataState) -> None:
    live = set(state.live_broker_ids())
    for topic in state.topics():
        partitions = state.partitions(topic.topic_id)
        assert partitions, "every topic has partitions"
        for partition in partitions:
            assert partition.isr and set(partition.isr) <= set(partition.replicas)
            assert partition.leader == -1 or partition.leader in partition.isr
            # Clean election: a leader is live, and no live ISR member is left leaderless.
            assert partition.leader == -1 or partition.leader in live
            if partition.leader == -1:
                assert not set(partition.isr) & live


def replay_log_file(data_dir: Path) -> MetadataState:
    state = MetadataState()
    with MetadataLog.open(data_dir / METADATA_DIRECTORY_NAME) as log:
        for entry in log.read_from(0):
            for index, record in enumerate(decode_record_batch(entry.payload)):
                state.replay(record, entry.offset + index)
    return state


@settings(max_examples=80, deadline=None)
@given(histories, st.integers(0, 2**32))
def test_replaying_the_log_rebuilds_an_equal_state(
    steps: list[tuple[object, ...]], seed: int
) -> None:
    with tempfile.TemporaryDirectory() as directory:
        data_dir = Path(directory)
        blocks: list[range] = []
        with MetadataStore.open(data_dir) as store:
            core = ControllerCore(store.state, random.Random(seed))
            for step in steps:
                operation = run_operation(core, step)
                store.apply(operation.records)
                check_invariants(store.state)
                assert decode_snapshot(encode_snapshot(store.state)) == store.state
                for result in operation.results:
                    if isinstance(result, ProducerIdBlock) and result.error_code == ErrorCode.NONE:
                        start = result.first_producer_id
                        blocks.append(range(start, start + result.size))
            live_state = store.state.copy()
        assert replay_log_file(data_dir) == live_state
        with MetadataStore.open(data_dir) as reopened:
            assert reopened.state == live_state
        ordered = sorted(blocks, key=lambda block: block.start)
        for earlier, later in zip(ordered, ordered[1:], strict=False):
            assert earlier.stop <= later.start


@settings(max_examples=30, deadline=None)
@given(histories, st.integers(0, 2**32))
def test_the_core_is_deterministic(steps: list[tuple[object, ...]], seed: int) -> None:
    states = []
    for _ in range(2):
        state = MetadataState()
        core = ControllerCore(state, random.Random(seed))
        for step in steps:
            for record in run_operation(core, step).records:
                state.replay(record, state.last_applied_offset + 1)
        states.append(state)
    assert states[0] == states[1]
