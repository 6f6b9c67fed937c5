"""The group coordinator of one broker: many groups plus their committed offsets (sans-IO).

GroupManager routes requests to group_state.Group by group id, keeps committed
offsets and their retention, rebuilds itself from __consumer_offsets records
(replay) and tells the shell when to wake up next (next_deadline_ms). Every
call that changes state returns effects; see docs/consumer-groups.md for what
the shell does with them. partition_for maps a group to its partition exactly
as Kafka does, so FindCoordinator agrees with any Kafka tooling.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from typing import Final

import attrs

from flowlog.broker import group_records as records
from flowlog.broker.group_state import Group
from flowlog.broker.group_types import (
    Effect,
    GroupConfig,
    GroupState,
    JoinRequest,
    JoinResponse,
    MemberIdentity,
    Persist,
    RespondJoin,
    RespondSync,
    SyncRequest,
    SyncResponse,
)
from flowlog.protocol import group_protocol
from flowlog.protocol.errors import ErrorCode

_INT32_MIN: Final = -(2**31)
NO_OFFSET: Final = -1
NO_LEADER_EPOCH: Final = -1


def java_string_hash(text: str) -> int:
    """Java's String.hashCode: over UTF-16 code units, wrapping at 32 bits (signed)."""
    encoded = text.encode("utf-16-be", "surrogatepass")
    value = 0
    for index in range(0, len(encoded), 2):
        unit = (encoded[index] << 8) | encoded[index + 1]
        value = (31 * value + unit) & 0xFFFFFFFF
    return value - (1 << 32) if value & 0x80000000 else value


def partition_for(group_id: str, partition_count: int) -> int:
    """Kafka's Utils.abs(groupId.hashCode) % partitions; abs(INT32_MIN) is 0 there."""
    assert partition_count > 0
    hash_code = java_string_hash(group_id)
    magnitude = 0 if hash_code == _INT32_MIN else abs(hash_code)
    return magnitude % partition_count


@attrs.frozen
class TopicPartition:
    topic: str
    partition: int


@attrs.frozen
class OffsetCommit:
    """One partition of an OffsetCommit request."""

    topic: str
    partition: int
    offset: int
    leader_epoch: int = NO_LEADER_EPOCH
    metadata: str | None = ""


@attrs.frozen
class FetchedOffset:
    topic: str
    partition: int
    offset: int
    leader_epoch: int
    metadata: str
    error_code: ErrorCode = ErrorCode.NONE


@attrs.frozen
class DescribedMember:
    member_id: str
    group_instance_id: str | None
    client_id: str
    client_host: str
    metadata: bytes
    assignment: bytes


@attrs.frozen
class GroupDescription:
    group_id: str
    error_code: ErrorCode
    state: str
    protocol_type: str
    protocol_name: str
    members: tuple[DescribedMember, ...] = ()


@attrs.frozen
class GroupListing:
    group_id: str
    protocol_type: str
    state: GroupState


class GroupManager:
    """All groups one coordinator owns. `new_member_id(prefix)` returns `prefix-<unique>`."""

    def __init__(
        self, config: GroupConfig, new_member_id: Callable[[str], str], now_ms: int
    ) -> None:
        self.config = config
        self._new_member_id = new_member_id
        self.groups: dict[str, Group] = {}
        self.offsets: dict[str, dict[TopicPartition, records.OffsetValue]] = {}
        self._next_retention_check_ms = now_ms + config.offsets_retention_check_interval_ms

    # ------------------------------------------------------------ membership

    def join(self, group_id: str, ticket: int, request: JoinRequest, now_ms: int) -> list[Effect]:
        group = self.groups.get(group_id)
        error = ErrorCode.NONE
        if group_id == "":
            error = ErrorCode.INVALID_GROUP_ID
        elif group is None and request.member_id != "":
            error = ErrorCode.UNKNOWN_MEMBER_ID
        elif group is None and len(self.groups) >= self.config.groups_max:
            error = ErrorCode.COORDINATOR_NOT_AVAILABLE
        if error is not ErrorCode.NONE:
            return [RespondJoin(ticket, JoinResponse(error, member_id=request.member_id))]
        return self._group_or_create(group_id, now_ms).join(ticket, request, now_ms)

    def sync(self, group_id: str, ticket: int, request: SyncRequest, now_ms: int) -> list[Effect]:
        group = self.groups.get(group_id)
        if group_id == "" or group is None:
            error = ErrorCode.INVALID_GROUP_ID if group_id == "" else ErrorCode.UNKNOWN_MEMBER_ID
            return [RespondSync(ticket, SyncResponse(error))]
        return group.sync(ticket, request, now_ms)

    def heartbeat(
        self,
        group_id: str,
        member_id: str,
        generation_id: int,
        group_instance_id: str | None,
        now_ms: int,
    ) -> ErrorCode:
        if group_id == "":
            return ErrorCode.INVALID_GROUP_ID
        group = self.groups.get(group_id)
        if group is None:
            return ErrorCode.UNKNOWN_MEMBER_ID
        return group.heartbeat(member_id, generation_id, group_instance_id, now_ms)

    def leave(
        self, group_id: str, identities: Sequence[MemberIdentity], now_ms: int
    ) -> tuple[ErrorCode, list[ErrorCode], list[Effect]]:
        """(top-level error, one error per identity, effects). Below v3 the shell answers
        with the single member's error at top level."""
        if group_id == "":
            return ErrorCode.INVALID_GROUP_ID, [], []
        group = self.groups.get(group_id)
        if group is None:
            return ErrorCode.NONE, [ErrorCode.UNKNOWN_MEMBER_ID] * len(identities), []
        errors, effects = group.leave(identities, now_ms)
        return ErrorCode.NONE, errors, effects

    # ------------------------------------------------------------ offsets

    def commit_offsets(
        self,
        group_id: str,
        member_id: str,
        generation_id: int,
        group_instance_id: str | None,
        commits: Sequence[OffsetCommit],
        now_ms: int,
        retention_ms: int = -1,
    ) -> tuple[list[ErrorCode], list[Effect]]:
        """One error per commit, in order, and the Persist to append before answering.

        Generation -1 (simple consumers, admin tools) is accepted only while the group
        has no members; retention_ms (OffsetCommit v2-v4) overrides the broker's retention.
        """
        group = self.groups.get(group_id)
        if group is None:
            if generation_id >= 0:
                return [ErrorCode.ILLEGAL_GENERATION] * len(commits), []
            if len(self.groups) >= self.config.groups_max:
                return [ErrorCode.COORDINATOR_NOT_AVAILABLE] * len(commits), []
            group = self._group_or_create(group_id, now_ms)
        if group.state is GroupState.DEAD:
            error = ErrorCode.COORDINATOR_NOT_AVAILABLE
        elif generation_id < 0 and group.state is GroupState.EMPTY:
            error = ErrorCode.NONE
        else:
            error = group.commit_error(member_id, generation_id, group_instance_id, now_ms)
        if error is not ErrorCode.NONE:
            return [error] * len(commits), []
        return self._store_offsets(group_id, commits, now_ms, retention_ms)

    def _store_offsets(
        self, group_id: str, commits: Sequence[OffsetCommit], now_ms: int, retention_ms: int
    ) -> tuple[list[ErrorCode], list[Effect]]:
        stored = self.offsets.setdefault(group_id, {})
        expire_ms = now_ms + retention_ms if retention_ms >= 0 else records.NO_TIMESTAMP
        errors: list[ErrorCode] = []
        written: list[records.Record] = []
        for commit in commits:
            metadata = commit.metadata or ""
            where = TopicPartition(commit.topic, commit.partition)
            if len(metadata.encode("utf-8")) > self.config.offset_metadata_max_bytes:
                errors.append(ErrorCode.OFFSET_METADATA_TOO_LARGE)
                continue
            if where not in stored and len(stored) >= self.config.offsets_per_group_max:
                errors.append(ErrorCode.INVALID_COMMIT_OFFSET_SIZE)
                continue
            value = records.OffsetValue(
                commit.offset, commit.leader_epoch, metadata, now_ms, expire_ms
            )
            stored[where] = value
            key = records.OffsetKey(group_id, commit.topic, commit.partition)
            written.append(records.offset_record(key, value))
            errors.append(ErrorCode.NONE)
        effects: list[Effect] = [Persist(group_id, tuple(written))] if written else []
        return errors, effects

    def fetch_offsets(
        self, group_id: str, partitions: Sequence[TopicPartition] | None
    ) -> list[FetchedOffset]:
        """Committed offsets; -1/""/-1 for a partition with none; None asks for all."""
        stored = self.offsets.get(group_id, {})
        wanted = (
            sorted(stored, key=lambda p: (p.topic, p.partition))
            if partitions is None
            else partitions
        )
        fetched = []
        for where in wanted:
            value = stored.get(where)
            if value is None:
                fetched.append(
                    FetchedOffset(where.topic, where.partition, NO_OFFSET, NO_LEADER_EPOCH, "")
                )
            else:
                fetched.append(
                    FetchedOffset(
                        where.topic,
                        where.partition,
                        value.offset,
                        value.leader_epoch,
                        value.metadata,
                    )
                )
        return fetched

    def delete_offsets(
        self, group_id: str, partitions: Sequence[TopicPartition]
    ) -> tuple[ErrorCode, list[ErrorCode], list[Effect]]:
        """OffsetDelete: (group error, one error per partition, effects)."""
        group = self.groups.get(group_id)
        if group is None or group.state is GroupState.DEAD:
            return ErrorCode.GROUP_ID_NOT_FOUND, [], []
        consumer_group = group.protocol_type == group_protocol.PROTOCOL_TYPE
        if group.state is not GroupState.EMPTY and not consumer_group:
            return ErrorCode.NON_EMPTY_GROUP, [], []
        errors: list[ErrorCode] = []
        tombstones: list[records.Record] = []
        stored = self.offsets.get(group_id, {})
        for where in partitions:
            if group.state is not GroupState.EMPTY and _is_subscribed(group, where.topic):
                errors.append(ErrorCode.GROUP_SUBSCRIBED_TO_TOPIC)
                continue
            errors.append(ErrorCode.NONE)
            if stored.pop(where, None) is not None:
                key = records.OffsetKey(group_id, where.topic, where.partition)
                tombstones.append(records.offset_record(key, None))
        effects: list[Effect] = [Persist(group_id, tuple(tombstones))] if tombstones else []
        return ErrorCode.NONE, errors, effects

    # ------------------------------------------------------------ admin

    def delete_groups(
        self, group_ids: Sequence[str], now_ms: int
    ) -> tuple[list[ErrorCode], list[Effect]]:
        """DeleteGroups: only Empty groups die; their offsets and metadata get tombstones."""
        errors: list[ErrorCode] = []
        effects: list[Effect] = []
        for group_id in group_ids:
            group = self.groups.get(group_id)
            if group is None or group.state is GroupState.DEAD:
                errors.append(ErrorCode.GROUP_ID_NOT_FOUND)
            elif group.state is not GroupState.EMPTY:
                errors.append(ErrorCode.NON_EMPTY_GROUP)
            else:
                errors.append(ErrorCode.NONE)
                effects.append(self._delete_group(group, now_ms))
        return errors, effects

    def _delete_group(self, group: Group, now_ms: int) -> Persist:
        group.mark_dead(now_ms)
        group_id = group.group_id
        tombstones = [
            records.offset_record(records.OffsetKey(group_id, where.topic, where.partition), None)
            for where in self.offsets.pop(group_id, {})
        ]
        tombstones.append(records.group_record(records.GroupKey(group_id), None))
        del self.groups[group_id]
        return Persist(group_id, tuple(tombstones))

    def describe(self, group_id: str) -> GroupDescription:
        group = self.groups.get(group_id)
        if group is None:
            return GroupDescription(group_id, ErrorCode.NONE, GroupState.DEAD.value, "", "")
        stable = group.state is GroupState.STABLE
        protocol = group.protocol_name if stable else None
        members = tuple(
            DescribedMember(
                member.member_id,
                member.group_instance_id,
                member.client_id,
                member.client_host,
                member.metadata_for(protocol) if protocol is not None else b"",
                member.assignment if stable else b"",
            )
            for member in group.members.values()
        )
        return GroupDescription(
            group_id,
            ErrorCode.NONE,
            group.state.value,
            group.protocol_type or "",
            protocol or "",
            members,
        )

    def list_groups(self, states: Collection[GroupState] | None = None) -> list[GroupListing]:
        return [
            GroupListing(group_id, group.protocol_type or "", group.state)
            for group_id, group in sorted(self.groups.items())
            if states is None or group.state in states
        ]

    def unload(self, which: Callable[[str], bool] | None = None) -> list[Effect]:
        """Give groups up (their partition moved; all of them if `which` is None):
        parked requests get NOT_COORDINATOR."""
        effects: list[Effect] = []
        for group_id in [g for g in self.groups if which is None or which(g)]:
            effects.extend(self.groups.pop(group_id).unload())
        for group_id in [g for g in self.offsets if which is None or which(g)]:
            del self.offsets[group_id]
        return effects

    def adopt(self, loaded: GroupManager) -> None:
        """Take the groups another manager replayed (one partition's, loaded apart so
        a half-loaded partition is never seen); this manager holds none of them."""
        assert not self.groups.keys() & loaded.groups.keys(), "adopting a group held already"
        self.groups.update(loaded.groups)
        self.offsets.update(loaded.offsets)

    # ------------------------------------------------------------ time

    def next_deadline_ms(self) -> int:
        deadlines = [self._next_retention_check_ms]
        for group in self.groups.values():
            deadline = group.next_deadline_ms()
            if deadline is not None:
                deadlines.append(deadline)
        return min(deadlines)

    def tick(self, now_ms: int) -> list[Effect]:
        effects: list[Effect] = []
        for group in list(self.groups.values()):
            deadline = group.next_deadline_ms()
            if deadline is not None and deadline <= now_ms:
                effects.extend(group.tick(now_ms))
        if now_ms >= self._next_retention_check_ms:
            self._next_retention_check_ms = now_ms + self.config.offsets_retention_check_interval_ms
            effects.extend(self._expire_offsets(now_ms))
        return effects

    def _expire_offsets(self, now_ms: int) -> list[Effect]:
        effects: list[Effect] = []
        for group_id, group in list(self.groups.items()):
            stored = self.offsets.get(group_id, {})
            expired = [
                where
                for where, value in stored.items()
                if self._expired(group, where, value, now_ms)
            ]
            tombstones = []
            for where in expired:
                del stored[where]
                key = records.OffsetKey(group_id, where.topic, where.partition)
                tombstones.append(records.offset_record(key, None))
            if tombstones:
                effects.append(Persist(group_id, tuple(tombstones)))
            if group.state is GroupState.EMPTY and not stored:
                effects.append(self._delete_group(group, now_ms))
        return effects

    def _expired(
        self, group: Group, where: TopicPartition, value: records.OffsetValue, now_ms: int
    ) -> bool:
        """Kafka >= 2.1: an Empty group's offsets age from when it became Empty; a Stable
        consumer group's unsubscribed topics and a standalone group's offsets from the commit."""
        if value.expire_timestamp_ms != records.NO_TIMESTAMP:
            return now_ms >= value.expire_timestamp_ms
        if not group.protocol_type:
            since_ms = value.commit_timestamp_ms
        elif group.state is GroupState.EMPTY:
            since_ms = group.state_changed_ms
        elif (
            group.state is GroupState.STABLE
            and group.protocol_type == group_protocol.PROTOCOL_TYPE
            and group.subscribed_topics is not None
            and where.topic not in group.subscribed_topics
        ):
            since_ms = value.commit_timestamp_ms
        else:
            return False
        return now_ms - since_ms >= self.config.offsets_retention_ms

    # ------------------------------------------------------------ loading

    def replay(self, key: bytes, value: bytes | None, now_ms: int) -> None:
        """Apply one __consumer_offsets record, in log order, while loading a partition."""
        decoded = records.decode_key(key)
        group_id = decoded.group_id
        if isinstance(decoded, records.OffsetKey):
            where = TopicPartition(decoded.topic, decoded.partition)
            if value is None:
                self.offsets.get(group_id, {}).pop(where, None)
                return
            self._group_or_create(group_id, now_ms)
            self.offsets.setdefault(group_id, {})[where] = records.decode_offset_value(value)
            return
        self.groups.pop(group_id, None)
        if value is not None:
            self._group_or_create(group_id, now_ms).restore(
                records.decode_group_value(value), now_ms
            )
        elif self.offsets.get(group_id):
            # Metadata deleted but offsets remain: keep them in an Empty group.
            self._group_or_create(group_id, now_ms)

    def _group_or_create(self, group_id: str, now_ms: int) -> Group:
        group = self.groups.get(group_id)
        if group is None:
            group = Group(group_id, self.config, self._new_member_id, now_ms)
            self.groups[group_id] = group
        return group


def _is_subscribed(group: Group, topic: str) -> bool:
    # Unknown subscriptions (undecodable metadata) count as subscribed, to be safe.
    return group.subscribed_topics is None or topic in group.subscribed_topics
