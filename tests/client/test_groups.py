"""Group consumption: subscribe, rebalance callbacks, commits, static membership, group admin.

Skipped (with the reason) while the broker does not advertise FindCoordinator (key 10).
"""

from __future__ import annotations

from collections.abc import Mapping

import pytest
import trio

from flowlog.client import (
    Admin,
    Consumer,
    OffsetAndMetadata,
    Producer,
    RebalanceListener,
    TopicPartition,
)
from flowlog.client.assignors import MemberAssignment, MemberSubscription, withhold_transfers

from .test_assignors import Tagged
from .test_produce_consume import consume_all, create_topic
from .test_resilience_admin_interop import _has_group_coordinator

# Short timeouts keep rebalances quick on the test broker.
GROUP_OPTIONS = dict(
    session_timeout_ms=6_000, heartbeat_interval_ms=500, rebalance_timeout_ms=10_000,
    auto_offset_reset="earliest",
)


@pytest.fixture
def group_broker(broker):  # type: ignore[no-untyped-def]
    if not _has_group_coordinator(broker.bootstrap):
        pytest.skip("broker does not advertise FindCoordinator (key 10): no group coordinator yet")
    return broker


class Recorder(RebalanceListener):
    def __init__(self) -> None:
        self.assigned: set[TopicPartition] = set()
        self.events: list[tuple[str, frozenset[TopicPartition]]] = []
        self.changed = trio.Event()

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        self.assigned |= assigned
        self.events.append(("assigned", frozenset(assigned)))
        self.changed.set()
        self.changed = trio.Event()

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        self.assigned -= revoked
        self.events.append(("revoked", frozenset(revoked)))
        self.changed.set()
        self.changed = trio.Event()


async def wait_for(predicate, recorder: Recorder, timeout_s: float = 30) -> None:  # type: ignore[no-untyped-def]
    with trio.fail_after(timeout_s):
        while not predicate():
            await recorder.changed.wait()


async def produce(bootstrap: str, topic: str, count: int, start: int = 0) -> None:
    async with Producer(bootstrap) as producer:
        for i in range(start, start + count):
            await producer.send(topic, b"%d" % i, key=b"%d" % i)


async def test_subscribe_consume_commit_and_resume_from_commit(group_broker) -> None:  # type: ignore[no-untyped-def]
    bootstrap = group_broker.bootstrap
    await create_topic(bootstrap, "g1", partitions=3)
    await produce(bootstrap, "g1", 90)
    recorder = Recorder()
    async with Consumer(bootstrap, group_id="grp1", enable_auto_commit=False,
                        **GROUP_OPTIONS) as consumer:
        consumer.subscribe(["g1"], listener=recorder)
        records = await consume_all(consumer, 90)
        assert len(records) == 90 and len(recorder.assigned) == 3
        await consumer.commit()
        committed = await consumer.committed([TopicPartition("g1", p) for p in range(3)])
        assert sum(v.offset for v in committed.values() if v) == 90
    await produce(bootstrap, "g1", 30, start=90)
    async with Consumer(bootstrap, group_id="grp1", **GROUP_OPTIONS) as consumer:
        consumer.subscribe(["g1"])
        records = await consume_all(consumer, 30)
    assert sorted(int(r.value) for r in records) == list(range(90, 120))
    async with Admin(bootstrap) as admin:
        offsets = await admin.list_group_offsets("grp1")
        assert sum(o.offset for o in offsets.values()) == 120  # auto-commit on close
        groups = {g.group_id for g in await admin.list_groups()}
        assert "grp1" in groups
        description = (await admin.describe_groups(["grp1"]))["grp1"]
        assert description.members == ()  # everyone left
        await admin.delete_groups(["grp1"])


@pytest.mark.parametrize("strategy", ["range", "roundrobin", "cooperative-sticky"])
async def test_two_members_split_partitions_and_rebalance(group_broker, strategy) -> None:  # type: ignore[no-untyped-def]
    bootstrap = group_broker.bootstrap
    topic = f"g2-{strategy}"
    await create_topic(bootstrap, topic, partitions=4)
    options = dict(GROUP_OPTIONS, partition_assignment_strategy=(strategy,))
    first, second = Recorder(), Recorder()
    async with Consumer(bootstrap, group_id=f"grp-{strategy}", **options) as one:
        one.subscribe([topic], listener=first)
        await wait_for(lambda: len(first.assigned) == 4, first)
        async with Consumer(bootstrap, group_id=f"grp-{strategy}", **options) as two:
            two.subscribe([topic], listener=second)
            with trio.fail_after(40):
                while not (len(first.assigned) == 2 and len(second.assigned) == 2):
                    await one.getmany(timeout_ms=200)
                    await two.getmany(timeout_ms=200)
            assert first.assigned.isdisjoint(second.assigned)
            assert one.assignment() == first.assigned
            if strategy == "cooperative-sticky":
                # Incremental: the first member never gave up the partitions it kept.
                revoked = [set(p) for kind, p in first.events if kind == "revoked"]
                assert revoked and all(len(p) == 2 for p in revoked)
        # The second member left: the first gets everything back.
        with trio.fail_after(40):
            while len(first.assigned) != 4:
                await one.getmany(timeout_ms=200)


async def test_static_member_rejoins_without_losing_partitions(group_broker) -> None:  # type: ignore[no-untyped-def]
    bootstrap = group_broker.bootstrap
    await create_topic(bootstrap, "g3", partitions=2)
    await produce(bootstrap, "g3", 20)
    options = dict(GROUP_OPTIONS, group_instance_id="instance-a")
    async with Consumer(bootstrap, group_id="grp3", **options) as consumer:
        consumer.subscribe(["g3"])
        assert len(await consume_all(consumer, 20)) == 20
        await consumer.commit()
        first_member = consumer.statistics()["group"].member_id
    # No LeaveGroup for a static member: the same instance id comes back within the session.
    async with Consumer(bootstrap, group_id="grp3", **options) as consumer:
        consumer.subscribe(["g3"])
        await produce(bootstrap, "g3", 5, start=20)
        records = await consume_all(consumer, 5)
        assert sorted(int(r.value) for r in records) == list(range(20, 25))
        assert consumer.statistics()["group"].member_id != ""
        assert first_member


async def test_commit_explicit_offsets_with_assign(group_broker) -> None:  # type: ignore[no-untyped-def]
    bootstrap = group_broker.bootstrap
    await create_topic(bootstrap, "g4")
    tp = TopicPartition("g4", 0)
    async with Consumer(bootstrap, group_id="grp4", enable_auto_commit=False) as consumer:
        consumer.assign([tp])
        await consumer.commit({tp: OffsetAndMetadata(7, "note")})
        assert await consumer.committed([tp]) == {tp: OffsetAndMetadata(7, "note")}


class WithholdingTagged(Tagged):
    """Tagged's plan, cooperative: a partition moves only once its old owner has revoked it."""

    def __init__(self, tag: bytes) -> None:
        super().__init__(tag)
        self.seen_user_data: list[dict[str, bytes | None]] = []

    def assign(
        self, members: Mapping[str, MemberSubscription], partitions_per_topic: Mapping[str, int]
    ) -> dict[str, MemberAssignment]:
        self.seen_user_data.append({m: s.user_data for m, s in members.items()})
        plan = super().assign(members, partitions_per_topic)
        kept = withhold_transfers({m: list(a.partitions) for m, a in plan.items()}, members)
        return {m: MemberAssignment(tuple(kept[m]), plan[m].user_data) for m in plan}


class AssignorCheckingRecorder(Recorder):
    """Checks that on_assignment ran before each callback of the same rebalance."""

    def __init__(self, assignor: Tagged) -> None:
        super().__init__()
        self.assignor = assignor
        self.latest_at_revocation: list[set[TopicPartition]] = []

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        assert assigned <= set(self.assignor.received[-1][0].partitions)
        await super().on_partitions_assigned(assigned)

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        # Checked by the test: close() revokes too, outside any rebalance.
        self.latest_at_revocation.append(set(self.assignor.received[-1][0].partitions))
        await super().on_partitions_revoked(revoked)


async def test_custom_assignor_object_carries_user_data_both_ways(group_broker) -> None:  # type: ignore[no-untyped-def]
    bootstrap = group_broker.bootstrap
    await create_topic(bootstrap, "g5", partitions=4)
    assignor_a, assignor_b = WithholdingTagged(b"a"), WithholdingTagged(b"b")
    first, second = AssignorCheckingRecorder(assignor_a), AssignorCheckingRecorder(assignor_b)
    # "range" second: both members prefer the object, so the group picks it.
    options_a = dict(GROUP_OPTIONS, partition_assignment_strategy=(assignor_a, "range"))
    options_b = dict(GROUP_OPTIONS, partition_assignment_strategy=(assignor_b, "range"))
    async with Consumer(bootstrap, group_id="grp5", **options_a) as one:
        one.subscribe(["g5"], listener=first)
        await wait_for(lambda: len(first.assigned) == 4, first)
        async with Consumer(bootstrap, group_id="grp5", **options_b) as two:
            two.subscribe(["g5"], listener=second)
            with trio.fail_after(40):
                while not (len(first.assigned) == 2 and len(second.assigned) == 2):
                    await one.getmany(timeout_ms=200)
                    await two.getmany(timeout_ms=200)
            # The plan: partitions dealt by tag order, "a" first.
            assert first.assigned == {TopicPartition("g5", 0), TopicPartition("g5", 2)}
            assert second.assigned == {TopicPartition("g5", 1), TopicPartition("g5", 3)}
            assert one.statistics()["group"].protocol == "tagged"
            # Cooperative per the object: the first member revoked only what moved.
            assert [p for kind, p in first.events if kind == "revoked"] == [
                frozenset({TopicPartition("g5", 1), TopicPartition("g5", 3)})
            ]
            # on_assignment ran before that revocation: it already held the new assignment.
            assert first.latest_at_revocation == [first.assigned]
            # The leader's assign() saw both members' subscription user data...
            leader_views = assignor_a.seen_user_data + assignor_b.seen_user_data
            assert {b"a", b"b"} in [set(view.values()) for view in leader_views]
            # ...and every member's on_assignment got the bytes the leader made for it.
            for assignor, consumer in ((assignor_a, one), (assignor_b, two)):
                assert {a.user_data for a, _ in assignor.received} == {b"for:" + assignor.tag}
                assignment, generation = assignor.received[-1]
                assert set(assignment.partitions) == consumer.assignment()
                assert generation == consumer.statistics()["group"].generation_id > 0


class ClaimDropping(Tagged):
    """Reports b"claim" until its first assignment, then b"none": a claim given up."""

    def subscription_user_data(
        self, topics: tuple[str, ...], owned: tuple[TopicPartition, ...]
    ) -> bytes | None:
        return b"none" if self.received else b"claim"


async def test_cooperative_member_rejoins_when_on_assignment_changes_its_user_data(group_broker) -> None:  # type: ignore[no-untyped-def]
    bootstrap = group_broker.bootstrap
    await create_topic(bootstrap, "g6", partitions=2)
    assignor = ClaimDropping(b"unused")
    recorder = AssignorCheckingRecorder(assignor)
    options = dict(GROUP_OPTIONS, partition_assignment_strategy=(assignor,))
    async with Consumer(bootstrap, group_id="grp6", **options) as consumer:
        consumer.subscribe(["g6"], listener=recorder)
        with trio.fail_after(30):
            while len(assignor.received) < 2:
                await consumer.getmany(timeout_ms=200)
        # The second rebalance carried the new user data; nothing changed after it: no third.
        await consumer.getmany(timeout_ms=2_000)
        assert [a.user_data for a, _ in assignor.received] == [b"for:claim", b"for:none"]
        first_generation, second_generation = (g for _, g in assignor.received)
        assert second_generation == first_generation + 1
        assert consumer.assignment() == {TopicPartition("g6", 0), TopicPartition("g6", 1)}
