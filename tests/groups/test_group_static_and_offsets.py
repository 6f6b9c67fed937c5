"""Static membership, offsets and retention, deletion, persistence and replay."""

from __future__ import annotations

import pytest
from group_harness import GROUP, SESSION_TIMEOUT_MS, Harness, assignment, join_request
from test_group_membership import group, stable_pair

from flowlog.broker import group_records as records
from flowlog.broker.group_core import (
    OffsetCommit,
    TopicPartition,
    java_string_hash,
    partition_for,
)
from flowlog.broker.group_types import GroupConfig, GroupState, MemberIdentity, SyncRequest
from flowlog.protocol.errors import ErrorCode


def static_pair(harness: Harness) -> tuple[str, str, int]:
    """Instances a (leader) and b, Stable; returns their member ids and the generation."""
    first = harness.join(join_request(instance_id="a"))
    second = harness.join(join_request(instance_id="b"))
    a_id = harness.joins[first].member_id
    rejoin = harness.join(join_request(a_id, instance_id="a"))
    leader, follower = harness.joins[rejoin], harness.joins[second]
    generation = leader.generation_id
    harness.sync(SyncRequest(follower.member_id, generation, "b"))
    harness.sync(
        SyncRequest(
            leader.member_id,
            generation,
            "a",
            assignments=(
                (leader.member_id, assignment("t", 0)),
                (follower.member_id, assignment("t", 1)),
            ),
        )
    )
    assert group(harness).state is GroupState.STABLE
    return leader.member_id, follower.member_id, generation


def test_static_member_restart_needs_no_rebalance() -> None:
    harness = Harness()
    a_id, b_id, generation = static_pair(harness)
    assert a_id.startswith("a-") and b_id.startswith("b-")
    ticket = harness.join(join_request(instance_id="b"))  # b restarted: no member id
    response = harness.joins[ticket]
    assert response.error_code == ErrorCode.NONE and response.member_id != b_id
    assert response.generation_id == generation and group(harness).state is GroupState.STABLE
    synced = harness.sync(SyncRequest(response.member_id, generation, "b"))
    assert harness.syncs[synced].assignment == assignment("t", 1)
    # The old id is fenced everywhere.
    manager, now = harness.manager, harness.now_ms
    assert manager.heartbeat(GROUP, b_id, generation, "b", now) == ErrorCode.FENCED_INSTANCE_ID
    fenced = harness.join(join_request(b_id, instance_id="b"))
    assert harness.joins[fenced].error_code == ErrorCode.FENCED_INSTANCE_ID
    # The new id was persisted: a restart keeps it.
    restored = harness.restarted()
    assert response.member_id in restored.manager.groups[GROUP].members


def test_static_leader_restart_returns_old_leader_id() -> None:
    harness = Harness()
    a_id, _, generation = static_pair(harness)
    ticket = harness.join(join_request(instance_id="a"))
    response = harness.joins[ticket]
    # Below JoinGroup v9 the restarted leader must not run the assignor.
    assert (response.leader, response.members) == (a_id, ())
    assert group(harness).leader_id == response.member_id
    assert group(harness).state is GroupState.STABLE


def test_static_member_with_new_protocol_triggers_rebalance() -> None:
    harness = Harness()
    static_pair(harness)
    from group_harness import consumer_protocols

    harness.join(join_request(instance_id="b", protocols=(*consumer_protocols("t"),)))
    assert group(harness).state is GroupState.STABLE
    from flowlog.broker.group_types import Protocol

    harness.join(join_request(instance_id="b", protocols=(Protocol("other", b""),)))
    # "other" is not supported by a: refused, no rebalance.
    assert group(harness).state is GroupState.STABLE


def test_static_member_is_kept_through_rebalance_and_leaves_by_instance_id() -> None:
    harness = Harness()
    a_id, b_id, generation = static_pair(harness)
    for _ in range(2):
        harness.manager.heartbeat(GROUP, b_id, generation, "b", harness.now_ms)
        harness.advance(SESSION_TIMEOUT_MS // 2)
    assert a_id not in group(harness).members  # a's session expired
    top, errors, effects = harness.manager.leave(GROUP, [MemberIdentity("", "b")], harness.now_ms)
    harness.absorb(effects)
    assert errors == [ErrorCode.NONE] and not group(harness).members


def test_leave_with_wrong_member_for_instance_is_fenced() -> None:
    harness = Harness()
    static_pair(harness)
    _, errors, _ = harness.manager.leave(GROUP, [MemberIdentity("x", "a")], harness.now_ms)
    assert errors == [ErrorCode.FENCED_INSTANCE_ID]


# ---------------------------------------------------------------- offsets


def commit(
    harness: Harness, member: str = "", generation: int = -1, *offsets: tuple[str, int, int]
) -> list[ErrorCode]:
    commits = [OffsetCommit(topic, partition, offset) for topic, partition, offset in offsets]
    errors, effects = harness.manager.commit_offsets(
        GROUP, member, generation, None, commits, harness.now_ms
    )
    harness.absorb(effects)
    return errors


def test_standalone_commit_and_fetch() -> None:
    harness = Harness()
    assert commit(harness, "", -1, ("t", 0, 42)) == [ErrorCode.NONE]
    fetched = harness.manager.fetch_offsets(GROUP, [TopicPartition("t", 0), TopicPartition("t", 1)])
    assert [(f.offset, f.metadata, f.leader_epoch) for f in fetched] == [(42, "", -1), (-1, "", -1)]
    assert [f.partition for f in harness.manager.fetch_offsets(GROUP, None)] == [0]
    assert harness.manager.fetch_offsets("unknown", None) == []
    # A generation names a member, and this group has none.
    assert commit(harness, "", 3, ("t", 0, 1)) == [ErrorCode.UNKNOWN_MEMBER_ID]


def test_commit_rules_for_member_groups() -> None:
    harness = Harness()
    leader, follower, generation = stable_pair(harness)
    assert commit(harness, "", -1, ("t", 0, 1)) == [ErrorCode.UNKNOWN_MEMBER_ID]
    assert commit(harness, follower, generation + 1, ("t", 0, 1)) == [ErrorCode.ILLEGAL_GENERATION]
    assert commit(harness, follower, generation, ("t", 0, 1)) == [ErrorCode.NONE]
    harness.join(join_request(leader))  # PreparingRebalance: still allowed
    assert commit(harness, follower, generation, ("t", 0, 2)) == [ErrorCode.NONE]
    harness.join(join_request(follower, client_id="other"))  # CompletingRebalance
    assert commit(harness, follower, generation + 1, ("t", 0, 3)) == [
        ErrorCode.REBALANCE_IN_PROGRESS
    ]


def test_commit_to_unknown_group_with_generation_is_illegal() -> None:
    harness = Harness()
    assert commit(harness, "m", 3, ("t", 0, 1)) == [ErrorCode.ILLEGAL_GENERATION]
    assert GROUP not in harness.manager.groups


def test_metadata_too_large() -> None:
    harness = Harness(GroupConfig(initial_rebalance_delay_ms=0, offset_metadata_max_bytes=3))
    errors, _ = harness.manager.commit_offsets(
        GROUP, "", -1, None, [OffsetCommit("t", 0, 1, metadata="toolong")], harness.now_ms
    )
    assert errors == [ErrorCode.OFFSET_METADATA_TOO_LARGE]


def test_offsets_of_empty_group_expire_after_retention_then_group_dies() -> None:
    config = GroupConfig(
        initial_rebalance_delay_ms=0,
        offsets_retention_ms=100_000,
        offsets_retention_check_interval_ms=10_000,
    )
    harness = Harness(config)
    leader, follower, generation = stable_pair(harness)
    assert commit(harness, follower, generation, ("t", 0, 5)) == [ErrorCode.NONE]
    harness.absorb(
        harness.manager.leave(
            GROUP, [MemberIdentity(leader), MemberIdentity(follower)], harness.now_ms
        )[2]
    )
    assert group(harness).state is GroupState.EMPTY
    harness.advance(90_000)
    assert harness.manager.fetch_offsets(GROUP, None)
    harness.advance(20_000)
    assert GROUP not in harness.manager.groups
    assert not harness.log, "offsets and metadata have tombstones"


def test_explicit_retention_of_old_commit_versions() -> None:
    config = GroupConfig(offsets_retention_check_interval_ms=1_000)
    harness = Harness(config)
    _, effects = harness.manager.commit_offsets(
        GROUP, "", -1, None, [OffsetCommit("t", 0, 1)], harness.now_ms, retention_ms=5_000
    )
    harness.absorb(effects)
    harness.advance(5_000)
    assert harness.manager.fetch_offsets(GROUP, None) == []


def test_delete_groups_only_when_empty() -> None:
    harness = Harness()
    leader, follower, generation = stable_pair(harness)
    commit(harness, follower, generation, ("t", 0, 5))
    errors, _ = harness.manager.delete_groups([GROUP, "missing"], harness.now_ms)
    assert errors == [ErrorCode.NON_EMPTY_GROUP, ErrorCode.GROUP_ID_NOT_FOUND]
    harness.absorb(
        harness.manager.leave(
            GROUP, [MemberIdentity(leader), MemberIdentity(follower)], harness.now_ms
        )[2]
    )
    errors, effects = harness.manager.delete_groups([GROUP], harness.now_ms)
    harness.absorb(effects)
    assert errors == [ErrorCode.NONE] and not harness.log
    assert harness.manager.describe(GROUP).state == "Dead"


def test_offset_delete_refuses_subscribed_topics() -> None:
    harness = Harness()
    _, follower, generation = stable_pair(harness)
    commit(harness, follower, generation, ("t", 0, 5), ("gone", 0, 7))
    top, errors, effects = harness.manager.delete_offsets(
        GROUP, [TopicPartition("t", 0), TopicPartition("gone", 0)]
    )
    harness.absorb(effects)
    assert top == ErrorCode.NONE
    assert errors == [ErrorCode.GROUP_SUBSCRIBED_TO_TOPIC, ErrorCode.NONE]
    assert [f.topic for f in harness.manager.fetch_offsets(GROUP, None)] == ["t"]
    assert harness.manager.delete_offsets("missing", [])[0] == ErrorCode.GROUP_ID_NOT_FOUND


def test_describe_and_list() -> None:
    harness = Harness()
    stable_pair(harness)
    description = harness.manager.describe(GROUP)
    assert (description.state, description.protocol_type, description.protocol_name) == (
        "Stable",
        "consumer",
        "range",
    )
    assert {m.assignment for m in description.members} == {assignment("t", 0), assignment("t", 1)}
    listing = harness.manager.list_groups([GroupState.STABLE])
    assert [(g.group_id, g.protocol_type) for g in listing] == [(GROUP, "consumer")]
    assert harness.manager.list_groups([GroupState.EMPTY]) == []


# ---------------------------------------------------------------- persistence


def test_replay_restores_stable_group_and_offsets() -> None:
    harness = Harness()
    leader, follower, generation = stable_pair(harness)
    commit(harness, follower, generation, ("t", 1, 9))
    restored = harness.restarted()
    again = restored.manager.groups[GROUP]
    assert (again.state, again.generation_id, again.leader_id) == (
        GroupState.STABLE,
        generation,
        leader,
    )
    assert again.members[follower].assignment == assignment("t", 1)
    assert restored.manager.fetch_offsets(GROUP, None)[0].offset == 9
    # Members must heartbeat within their session timeout, else they go.
    manager = restored.manager
    restored.advance(SESSION_TIMEOUT_MS // 2)
    assert manager.heartbeat(GROUP, follower, generation, None, restored.now_ms) == ErrorCode.NONE
    restored.advance(SESSION_TIMEOUT_MS // 2)
    assert set(again.members) == {follower} and again.state is GroupState.PREPARING_REBALANCE


def test_record_round_trip_and_tombstone_key() -> None:
    value = records.GroupValue(
        "consumer",
        3,
        "range",
        "m-1",
        123,
        (records.MemberValue("m-1", None, "c", "h", 300, 45, b"\x00\x01", b""),),
    )
    assert records.decode_group_value(records.encode_group_value(value)) == value
    offset = records.OffsetValue(10, 2, "meta", 5, -1)
    assert records.decode_offset_value(records.encode_offset_value(offset)) == offset
    key = records.OffsetKey("g", "t", 3)
    assert records.decode_key(records.encode_key(key)) == key
    assert records.offset_record(key, None).value is None
    with pytest.raises(records.CorruptGroupRecord):
        records.decode_key(b"\x00\x07")
    with pytest.raises(records.CorruptGroupRecord):
        records.decode_offset_value(records.encode_offset_value(offset)[:-1])
    # A newer version with an appended field still reads.
    newer = b"\x00\x01" + records.encode_offset_value(offset)[2:] + b"\xff"
    assert records.decode_offset_value(newer) == offset


@pytest.mark.parametrize(
    ("group_id", "hash_code", "partition_of_50"),
    [
        ("hello", 99162322, 22),
        ("Hello World", -862545276, 26),  # Utils.abs, not & 0x7fffffff (which gives 22)
        ("polygenelubricants", -(2**31), 0),  # abs(Integer.MIN_VALUE) is 0 in Kafka
        ("", 0, 0),
    ],
)
def test_partition_for_matches_kafka(group_id: str, hash_code: int, partition_of_50: int) -> None:
    assert java_string_hash(group_id) == hash_code
    assert partition_for(group_id, 50) == partition_of_50


def test_java_hash_uses_utf16_code_units() -> None:
    # U+1F600 is the surrogate pair D83D DE00 in Java: 0xD83D * 31 + 0xDE00.
    assert java_string_hash("\U0001f600") == 0xD83D * 31 + 0xDE00
