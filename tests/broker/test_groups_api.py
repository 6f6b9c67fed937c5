"""The group APIs at the protocol level, with our own codec: versions, errors, batching."""

from __future__ import annotations

import threading

from member_process import create_topic
from raw_client import RawConnection, produce

from flowlog.protocol.errors import ErrorCode
from flowlog.protocol.messages.api_versions import ApiVersionsRequest
from flowlog.protocol.messages.delete_groups import DeleteGroupsRequest
from flowlog.protocol.messages.describe_groups import DescribeGroupsRequest
from flowlog.protocol.messages.find_coordinator import FindCoordinatorRequest
from flowlog.protocol.messages.heartbeat import HeartbeatRequest
from flowlog.protocol.messages.join_group import JoinGroupRequest
from flowlog.protocol.messages.leave_group import LeaveGroupRequest
from flowlog.protocol.messages.list_groups import ListGroupsRequest
from flowlog.protocol.messages.offset_commit import OffsetCommitRequest
from flowlog.protocol.messages.offset_delete import OffsetDeleteRequest
from flowlog.protocol.messages.offset_fetch import OffsetFetchRequest
from flowlog.protocol.messages.sync_group import SyncGroupRequest
from flowlog.protocol.records import Record, build_batch

BROKER_CONFIG = {"group.initial.rebalance.delay.ms": "0"}
GROUP_APIS = {8: (2, 8), 9: (1, 8), 10: (0, 4), 11: (0, 7), 12: (0, 4), 13: (0, 5), 14: (0, 5),
              15: (0, 5), 16: (0, 4), 42: (0, 2), 47: (0, 0)}


def commit(connection: RawConnection, group: str, topic: str, offsets: dict[int, int]) -> list[int]:
    request = OffsetCommitRequest(group_id=group, generation_id=-1, member_id="", topics=[
        OffsetCommitRequest.OffsetCommitRequestTopic(name=topic, partitions=[
            OffsetCommitRequest.OffsetCommitRequestPartition(
                partition_index=p, committed_offset=o, committed_metadata="m")
            for p, o in offsets.items()])])
    response = connection.call(8, 2, request)
    return [p.error_code for t in response.topics for p in t.partitions]


def fetched(topics: list[object]) -> dict[tuple[str, int], int]:
    return {(t.name, p.partition_index): p.committed_offset  # type: ignore[attr-defined]
            for t in topics for p in t.partitions}  # type: ignore[attr-defined]


def test_group_apis_are_advertised(broker_factory) -> None:  # type: ignore[no-untyped-def]
    broker = broker_factory(BROKER_CONFIG)
    with RawConnection(broker.bootstrap) as connection:
        response = connection.call(18, 3, ApiVersionsRequest(client_software_name="t",
                                                             client_software_version="1"))
    ranges = {k.api_key: (k.min_version, k.max_version) for k in response.api_keys}
    assert {key: ranges.get(key) for key in GROUP_APIS} == GROUP_APIS


def test_find_coordinator_versions(broker_factory) -> None:  # type: ignore[no-untyped-def]
    broker = broker_factory(BROKER_CONFIG)
    host, port = broker.bootstrap.rsplit(":", 1)
    with RawConnection(broker.bootstrap) as connection:
        for version in range(4):
            answer = connection.call(10, version, FindCoordinatorRequest(key="g", key_type=0))
            assert (answer.error_code, answer.node_id, answer.host, answer.port) == (
                0, 1, host, int(port))
        transactional = connection.call(10, 1, FindCoordinatorRequest(key="t", key_type=1))
        assert transactional.error_code == ErrorCode.COORDINATOR_NOT_AVAILABLE
        batch = connection.call(10, 4, FindCoordinatorRequest(key_type=0,
                                                              coordinator_keys=["a", "b"]))
        assert [(c.key, c.error_code, c.port) for c in batch.coordinators] == [
            ("a", 0, int(port)), ("b", 0, int(port))]


def test_offsets_admin_lifecycle_survives_restart(broker_factory) -> None:  # type: ignore[no-untyped-def]
    broker = broker_factory(BROKER_CONFIG)
    create_topic(broker.bootstrap, "admin-t", 3)
    with RawConnection(broker.bootstrap) as connection:
        assert commit(connection, "admin-g", "admin-t", {0: 5, 1: 7}) == [0, 0]
        assert commit(connection, "other-g", "admin-t", {2: 9}) == [0]
        assert commit(connection, "admin-g", "missing", {0: 1}) == [
            ErrorCode.UNKNOWN_TOPIC_OR_PARTITION]
        # v1 names partitions; v5 with null topics means all of the group's.
        v1 = connection.call(9, 1, OffsetFetchRequest(group_id="admin-g", topics=[
            OffsetFetchRequest.OffsetFetchRequestTopic(name="admin-t", partition_indexes=[0, 2])]))
        assert fetched(v1.topics) == {("admin-t", 0): 5, ("admin-t", 2): -1}
        v5 = connection.call(9, 5, OffsetFetchRequest(group_id="admin-g", topics=None))
        assert fetched(v5.topics) == {("admin-t", 0): 5, ("admin-t", 1): 7}
        # v8 batches groups.
        v8 = connection.call(9, 8, OffsetFetchRequest(groups=[
            OffsetFetchRequest.OffsetFetchRequestGroup(group_id="admin-g", topics=None),
            OffsetFetchRequest.OffsetFetchRequestGroup(group_id="other-g", topics=None),
            OffsetFetchRequest.OffsetFetchRequestGroup(group_id="nobody", topics=None)]))
        assert [(g.group_id, fetched(g.topics)) for g in v8.groups] == [
            ("admin-g", {("admin-t", 0): 5, ("admin-t", 1): 7}),
            ("other-g", {("admin-t", 2): 9}),
            ("nobody", {})]
        listed = connection.call(16, 4, ListGroupsRequest(states_filter=["Empty"]))
        assert sorted((g.group_id, g.group_state) for g in listed.groups) == [
            ("admin-g", "Empty"), ("other-g", "Empty")]
        assert connection.call(16, 4, ListGroupsRequest(states_filter=["Stable"])).groups == []
        described = connection.call(15, 5, DescribeGroupsRequest(groups=["admin-g", "nobody"]))
        assert [(g.group_id, g.group_state, g.error_code) for g in described.groups] == [
            ("admin-g", "Empty", 0), ("nobody", "Dead", 0)]
        deleted_offsets = connection.call(47, 0, OffsetDeleteRequest(group_id="admin-g", topics=[
            OffsetDeleteRequest.OffsetDeleteRequestTopic(name="admin-t", partitions=[
                OffsetDeleteRequest.OffsetDeleteRequestPartition(partition_index=1)])]))
        assert deleted_offsets.error_code == 0
        assert [p.error_code for t in deleted_offsets.topics for p in t.partitions] == [0]
        deleted = connection.call(42, 2, DeleteGroupsRequest(groups_names=["other-g", "nobody"]))
        assert [(r.group_id, r.error_code) for r in deleted.results] == [
            ("other-g", 0), ("nobody", ErrorCode.GROUP_ID_NOT_FOUND)]
    broker.kill()
    broker.start()
    with RawConnection(broker.bootstrap) as connection:
        v5 = connection.call(9, 5, OffsetFetchRequest(group_id="admin-g", topics=None))
        assert fetched(v5.topics) == {("admin-t", 0): 5}
        listed = connection.call(16, 3, ListGroupsRequest())
        assert [g.group_id for g in listed.groups] == ["admin-g"]


def join(connection: RawConnection, version: int, member_id: str = "",
         session_timeout_ms: int = 10_000) -> object:
    request = JoinGroupRequest(
        group_id="raw-g", session_timeout_ms=session_timeout_ms, rebalance_timeout_ms=20_000,
        member_id=member_id, protocol_type="consumer", protocols=[
            JoinGroupRequest.JoinGroupRequestProtocol(name="range", metadata=b"\x00\x00")])
    return connection.call(11, version, request)


def test_membership_round_trip_and_parked_join_at_shutdown(broker_factory) -> None:  # type: ignore[no-untyped-def]
    broker = broker_factory(BROKER_CONFIG)
    with RawConnection(broker.bootstrap) as first:
        assert join(first, 4, session_timeout_ms=10).error_code == ErrorCode.INVALID_SESSION_TIMEOUT
        required = join(first, 4)
        assert required.error_code == ErrorCode.MEMBER_ID_REQUIRED
        joined = join(first, 4, required.member_id)
        assert (joined.error_code, joined.generation_id, joined.leader) == (
            0, 1, required.member_id)
        assert [m.member_id for m in joined.members] == [required.member_id]
        synced = first.call(14, 3, SyncGroupRequest(
            group_id="raw-g", generation_id=1, member_id=required.member_id, assignments=[
                SyncGroupRequest.SyncGroupRequestAssignment(member_id=required.member_id,
                                                            assignment=b"plan")]))
        assert (synced.error_code, synced.assignment) == (0, b"plan")
        beat = first.call(12, 4, HeartbeatRequest(group_id="raw-g", generation_id=1,
                                                  member_id=required.member_id))
        assert beat.error_code == 0
        # A second member's join parks until the first rejoins, which it never does here.
        parked_answer: list[object] = []

        def park() -> None:
            with RawConnection(broker.bootstrap) as second:
                try:
                    parked_answer.append(join(second, 1))
                except ConnectionError as error:
                    parked_answer.append(error)

        parker = threading.Thread(target=park, daemon=True)
        parker.start()
        parker.join(1.0)
        assert parker.is_alive() and not parked_answer
        beat = first.call(12, 4, HeartbeatRequest(group_id="raw-g", generation_id=1,
                                                  member_id=required.member_id))
        assert beat.error_code == ErrorCode.REBALANCE_IN_PROGRESS
        left = first.call(13, 0, LeaveGroupRequest(group_id="raw-g",
                                                   member_id=required.member_id))
        assert left.error_code == 0
        # With the first member gone the parked join completes: a new generation.
        parker.join(10.0)
        assert parked_answer and parked_answer[0].generation_id == 2  # type: ignore[attr-defined]
        parked_again = threading.Thread(target=park, daemon=True)
        parked_again.start()
        parked_again.join(1.0)
    # SIGTERM with a JoinGroup still parked: the broker still shuts down cleanly.
    assert broker.stop() == 0
    parked_again.join(10.0)
    assert not parked_again.is_alive()


def test_clients_cannot_produce_to_consumer_offsets(broker_factory) -> None:  # type: ignore[no-untyped-def]
    broker = broker_factory(BROKER_CONFIG)
    batch = build_batch([Record(offset=0, timestamp=0, key=b"\x00\x01", value=b"forged")])
    with RawConnection(broker.bootstrap) as connection:
        answer = produce(connection, "__consumer_offsets", 0, batch)
    assert answer.error_code == ErrorCode.INVALID_TOPIC_EXCEPTION
