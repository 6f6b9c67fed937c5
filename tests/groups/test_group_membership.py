"""JoinGroup, SyncGroup, Heartbeat and LeaveGroup paths of the group machine."""

from __future__ import annotations

import pytest
from group_harness import (
    GROUP,
    REBALANCE_TIMEOUT_MS,
    SESSION_TIMEOUT_MS,
    Harness,
    assignment,
    consumer_protocols,
    join_request,
)

from flowlog.broker.group_state import ALLOWED, Group, render_transition_table
from flowlog.broker.group_types import (
    GroupConfig,
    GroupState,
    JoinResponse,
    MemberIdentity,
    Protocol,
    SyncRequest,
)
from flowlog.protocol.errors import ErrorCode


def group(harness: Harness) -> Group:
    return harness.manager.groups[GROUP]


def two_joined(harness: Harness) -> tuple[JoinResponse, JoinResponse]:
    """Two members through one join: (leader's response, follower's response)."""
    first_id = harness.join_new()
    harness.join(join_request(first_id))  # alone: generation 1 at once
    second = harness.join(join_request(harness.join_new(client_id="other"), client_id="other"))
    first = harness.join(join_request(first_id))  # the rejoin completes generation 2
    return harness.joins[first], harness.joins[second]


def stable_pair(harness: Harness) -> tuple[str, str, int]:
    """Two members through a full rebalance; returns (leader, follower, generation)."""
    leader, follower = two_joined(harness)
    generation = leader.generation_id
    assert generation == follower.generation_id == 2 and leader.leader == leader.member_id
    harness.sync(SyncRequest(follower.member_id, generation))
    harness.sync(
        SyncRequest(
            leader.member_id,
            generation,
            assignments=(
                (leader.member_id, assignment("t", 0)),
                (follower.member_id, assignment("t", 1)),
            ),
        )
    )
    assert group(harness).state is GroupState.STABLE
    return leader.member_id, follower.member_id, generation


def test_member_id_required_then_join_completes_alone() -> None:
    harness = Harness()
    member_id = harness.join_new()
    assert member_id.startswith("client-")
    assert group(harness).pending_members
    ticket = harness.join(join_request(member_id))
    response = harness.joins[ticket]
    assert response.error_code == ErrorCode.NONE
    assert (response.generation_id, response.leader, response.protocol_name) == (
        1,
        member_id,
        "range",
    )
    assert [m.member_id for m in response.members] == [member_id]
    assert group(harness).state is GroupState.COMPLETING_REBALANCE


def test_old_versions_join_directly() -> None:
    harness = Harness()
    ticket = harness.join(join_request(api_version=3))
    assert harness.joins[ticket].error_code == ErrorCode.NONE
    assert harness.joins[ticket].generation_id == 1


def test_pending_member_blocks_completion_and_expires() -> None:
    harness = Harness()
    leader, follower, generation = stable_pair(harness)
    harness.join_new(client_id="late")  # pending: will never come back
    parked = harness.join(join_request(leader))  # the leader's rejoin starts a rebalance
    harness.join(join_request(follower, client_id="other"))
    assert parked not in harness.joins, "a pending member holds the join open"
    harness.advance(SESSION_TIMEOUT_MS)
    assert harness.joins[parked].generation_id == generation + 1


def test_follower_sync_waits_for_leader() -> None:
    harness = Harness()
    leader, follower = two_joined(harness)
    assert leader.members and not follower.members
    waiting = harness.sync(SyncRequest(follower.member_id, follower.generation_id))
    assert waiting not in harness.syncs
    harness.sync(
        SyncRequest(
            leader.member_id,
            leader.generation_id,
            assignments=((follower.member_id, assignment("t", 0)),),
        )
    )
    assert harness.syncs[waiting].assignment == assignment("t", 0)
    assert harness.syncs[waiting].protocol_name == "range"
    assert group(harness).members[leader.member_id].assignment == b""  # left out: empty


@pytest.mark.parametrize(
    ("member", "generation", "instance", "expected"),
    [
        ("nobody", 1, None, ErrorCode.UNKNOWN_MEMBER_ID),
        ("LEADER", 7, None, ErrorCode.ILLEGAL_GENERATION),
        ("LEADER", 1, "someone", ErrorCode.UNKNOWN_MEMBER_ID),
    ],
)
def test_sync_errors(member: str, generation: int, instance: str | None, expected: int) -> None:
    harness = Harness()
    leader = harness.joins[harness.join(join_request(harness.join_new()))].member_id
    member_id = leader if member == "LEADER" else member
    ticket = harness.sync(SyncRequest(member_id, generation, instance))
    assert harness.syncs[ticket].error_code == expected


def test_sync_protocol_checks_and_rebalance_in_progress() -> None:
    harness = Harness()
    leader, follower, generation = stable_pair(harness)
    wrong_type = harness.sync(SyncRequest(follower, generation, protocol_type="connect"))
    wrong_name = harness.sync(SyncRequest(follower, generation, protocol_name="roundrobin"))
    right = harness.sync(SyncRequest(follower, generation, None, "consumer", "range"))
    assert harness.syncs[wrong_type].error_code == ErrorCode.INCONSISTENT_GROUP_PROTOCOL
    assert harness.syncs[wrong_name].error_code == ErrorCode.INCONSISTENT_GROUP_PROTOCOL
    assert harness.syncs[right].assignment == assignment("t", 1)
    harness.join(join_request(leader))
    during = harness.sync(SyncRequest(follower, generation))
    assert harness.syncs[during].error_code == ErrorCode.REBALANCE_IN_PROGRESS


def test_heartbeat_errors_by_state() -> None:
    harness = Harness()
    leader, follower, generation = stable_pair(harness)
    manager, now = harness.manager, harness.now_ms
    assert manager.heartbeat(GROUP, follower, generation, None, now) == ErrorCode.NONE
    assert manager.heartbeat(GROUP, "ghost", generation, None, now) == ErrorCode.UNKNOWN_MEMBER_ID
    assert manager.heartbeat(GROUP, follower, 99, None, now) == ErrorCode.ILLEGAL_GENERATION
    assert manager.heartbeat("nope", follower, 1, None, now) == ErrorCode.UNKNOWN_MEMBER_ID
    assert manager.heartbeat("", follower, 1, None, now) == ErrorCode.INVALID_GROUP_ID
    harness.join(join_request(leader))
    assert (
        manager.heartbeat(GROUP, follower, generation, None, now) == ErrorCode.REBALANCE_IN_PROGRESS
    )


def test_session_expiry_removes_member_and_rebalances() -> None:
    harness = Harness()
    leader, follower, generation = stable_pair(harness)
    for _ in range(3):
        harness.advance(SESSION_TIMEOUT_MS // 2)
        harness.manager.heartbeat(GROUP, leader, generation, None, harness.now_ms)
    assert follower not in group(harness).members
    assert group(harness).state is GroupState.PREPARING_REBALANCE
    rejoin = harness.join(join_request(leader))
    assert harness.joins[rejoin].generation_id == generation + 1


def test_rebalance_timeout_drops_members_that_did_not_rejoin() -> None:
    harness = Harness()
    leader, follower, generation = stable_pair(harness)
    changed = consumer_protocols("t", "u")
    parked = harness.join(join_request(follower, client_id="other", protocols=changed))
    for _ in range(5):  # the leader stays alive but never rejoins
        harness.advance(REBALANCE_TIMEOUT_MS // 6)
        harness.manager.heartbeat(GROUP, leader, generation, None, harness.now_ms)
    assert parked not in harness.joins
    harness.advance(REBALANCE_TIMEOUT_MS // 6)
    response = harness.joins[parked]
    # The old leader did not rejoin: the first member that did leads.
    assert (response.leader, response.generation_id) == (follower, generation + 1)
    assert list(group(harness).members) == [follower]


def test_missing_sync_removes_member() -> None:
    harness = Harness()
    first = harness.join(join_request(harness.join_new()))
    leader = harness.joins[first]
    harness.advance(REBALANCE_TIMEOUT_MS)
    assert leader.member_id not in group(harness).members
    assert group(harness).state is GroupState.EMPTY
    assert group(harness).generation_id == 2


def test_leave_batched_with_per_member_errors() -> None:
    harness = Harness()
    leader, follower, _ = stable_pair(harness)
    top, errors, _ = harness.manager.leave(
        GROUP,
        [MemberIdentity(follower), MemberIdentity("ghost"), MemberIdentity("", "no-such")],
        harness.now_ms,
    )
    assert top == ErrorCode.NONE
    assert errors == [ErrorCode.NONE, ErrorCode.UNKNOWN_MEMBER_ID, ErrorCode.UNKNOWN_MEMBER_ID]
    assert group(harness).state is GroupState.PREPARING_REBALANCE
    _, errors, effects = harness.manager.leave(GROUP, [MemberIdentity(leader)], harness.now_ms)
    harness.absorb(effects)
    assert errors == [ErrorCode.NONE] and group(harness).state is GroupState.EMPTY
    assert harness.manager.leave("other", [MemberIdentity("x")], harness.now_ms)[1] == [
        ErrorCode.UNKNOWN_MEMBER_ID
    ]


def test_leaving_member_with_parked_join_gets_an_answer() -> None:
    harness = Harness()
    leader, follower, _ = stable_pair(harness)
    parked = harness.join(join_request(leader))
    _, _, effects = harness.manager.leave(GROUP, [MemberIdentity(leader)], harness.now_ms)
    harness.absorb(effects)
    assert harness.joins[parked].error_code == ErrorCode.UNKNOWN_MEMBER_ID


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({"session_timeout_ms": 5_999}, ErrorCode.INVALID_SESSION_TIMEOUT),
        ({"session_timeout_ms": 1_800_001}, ErrorCode.INVALID_SESSION_TIMEOUT),
        ({"protocol_type": ""}, ErrorCode.INCONSISTENT_GROUP_PROTOCOL),
        ({"protocols": ()}, ErrorCode.INCONSISTENT_GROUP_PROTOCOL),
        ({"member_id": "unknown-1"}, ErrorCode.UNKNOWN_MEMBER_ID),
    ],
)
def test_join_rejections(options: dict[str, object], expected: int) -> None:
    harness = Harness()
    ticket = harness.join(join_request(**options))  # type: ignore[arg-type]
    assert harness.joins[ticket].error_code == expected


def test_protocol_mismatch_with_existing_members() -> None:
    harness = Harness()
    stable_pair(harness)
    other_type = harness.join(join_request(protocol_type="connect"))
    other_name = harness.join(join_request(protocols=(Protocol("sticky", b""),)))
    assert harness.joins[other_type].error_code == ErrorCode.INCONSISTENT_GROUP_PROTOCOL
    assert harness.joins[other_name].error_code == ErrorCode.INCONSISTENT_GROUP_PROTOCOL


def test_protocol_vote_picks_most_voted_common_protocol() -> None:
    harness = Harness(GroupConfig(initial_rebalance_delay_ms=3_000))
    both = (Protocol("cooperative-sticky", b"a"), Protocol("range", b"b"))
    first = harness.join(join_request(api_version=3, protocols=(both[1], both[0])))
    harness.join(join_request(api_version=3, protocols=both))
    harness.join(join_request(api_version=3, protocols=both))
    harness.advance(3_000)  # members arrived during the delay: it is extended once
    harness.advance(3_000)
    # range is the first member's vote, cooperative-sticky the other two's.
    assert harness.joins[first].protocol_name == "cooperative-sticky"


def test_group_max_size() -> None:
    harness = Harness(GroupConfig(initial_rebalance_delay_ms=0, group_max_size=1))
    harness.join_new()
    ticket = harness.join(join_request())
    assert harness.joins[ticket].error_code == ErrorCode.GROUP_MAX_SIZE_REACHED


def test_initial_rebalance_delay_extends_while_members_arrive() -> None:
    harness = Harness(GroupConfig(initial_rebalance_delay_ms=3_000))
    first = harness.join(join_request(api_version=3))
    harness.advance(2_000)
    second = harness.join(join_request(api_version=3))
    harness.advance(1_000)  # first delay over, but a member arrived: wait another 3 s
    assert first not in harness.joins
    harness.advance(3_000)
    assert harness.joins[first].generation_id == harness.joins[second].generation_id == 1
    assert len(harness.joins[first].members) == 2


def test_initial_delay_never_exceeds_rebalance_timeout() -> None:
    harness = Harness(GroupConfig(initial_rebalance_delay_ms=3_000))
    start_ms = harness.now_ms
    first = harness.join(join_request(api_version=3, rebalance_timeout_ms=7_000))
    while first not in harness.joins:
        harness.advance(500)
        if (harness.now_ms - start_ms) % 2_500 == 0:
            harness.join(join_request(api_version=3, rebalance_timeout_ms=7_000))
        assert harness.now_ms - start_ms <= 7_000
    assert harness.now_ms - start_ms == 7_000


def test_leader_rejoin_in_stable_forces_rebalance_follower_does_not() -> None:
    harness = Harness()
    leader, follower, generation = stable_pair(harness)
    same = harness.join(join_request(follower, client_id="other"))
    assert harness.joins[same].generation_id == generation
    assert group(harness).state is GroupState.STABLE
    harness.join(join_request(leader))
    assert group(harness).state is GroupState.PREPARING_REBALANCE


def test_changed_metadata_forces_rebalance() -> None:
    harness = Harness()
    _, follower, _ = stable_pair(harness)
    harness.join(join_request(follower, protocols=consumer_protocols("t", "u")))
    assert group(harness).state is GroupState.PREPARING_REBALANCE


def test_superseded_join_ticket_is_answered() -> None:
    harness = Harness()
    leader, _, _ = stable_pair(harness)
    old = harness.join(join_request(leader))
    new = harness.join(join_request(leader))
    assert harness.joins[old].error_code == ErrorCode.REBALANCE_IN_PROGRESS
    assert new not in harness.joins


def test_new_member_parked_join_expires_after_five_minutes() -> None:
    harness = Harness()
    first_id = harness.join_new()
    slow = {"rebalance_timeout_ms": 600_000}
    harness.join(join_request(first_id, **slow))  # type: ignore[arg-type]
    generation = group(harness).generation_id
    newcomer_id = harness.join_new(client_id="new")
    newcomer = harness.join(join_request(newcomer_id, client_id="new", **slow))  # type: ignore[arg-type]
    # The first member keeps its session but never rejoins: the join stays open.
    for _ in range(300_000 // 5_000):
        assert newcomer not in harness.joins
        harness.manager.heartbeat(GROUP, first_id, generation, None, harness.now_ms)
        harness.advance(5_000)
    assert harness.joins[newcomer].error_code == ErrorCode.UNKNOWN_MEMBER_ID
    assert newcomer_id not in group(harness).members


def test_unload_answers_parked_tickets() -> None:
    harness = Harness()
    leader, _, _ = stable_pair(harness)
    parked = harness.join(join_request(leader))
    harness.absorb(harness.manager.unload())
    assert harness.joins[parked].error_code == ErrorCode.NOT_COORDINATOR
    assert not harness.manager.groups


def test_transition_table_is_rendered_in_docs() -> None:
    from pathlib import Path

    docs = Path(__file__).resolve().parents[2] / "docs" / "consumer-groups.md"
    assert render_transition_table() in docs.read_text()
    assert ALLOWED[GroupState.DEAD] == frozenset()
