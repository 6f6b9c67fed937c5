"""The admin client: topics, partitions, configs, groups, offsets, record deletion.

    async with Admin("127.0.0.1:9092") as admin:
        await admin.create_topics([NewTopic("events", num_partitions=6)])
        print(await admin.describe_topics(["events"]))

Each call raises the first error the broker reports (naming the topic or
group), as the exception class of its code: TopicAlreadyExistsError,
UnknownTopicError, InvalidPartitionsError, GroupIdNotFoundError, ...
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Final

import attrs
import trio

from flowlog.client.cluster import Cluster
from flowlog.client.config import AdminConfig, build_config
from flowlog.client.errors import ClientClosedError, error_for_code, raise_for_code
from flowlog.client.offsets import EARLIEST_TIMESTAMP, LATEST_TIMESTAMP, list_offsets
from flowlog.client.types import OffsetAndMetadata, PartitionInfo, TopicPartition
from flowlog.protocol.errors import ErrorCode
from flowlog.protocol.messages.create_partitions import CreatePartitionsRequest
from flowlog.protocol.messages.create_topics import CreateTopicsRequest
from flowlog.protocol.messages.delete_groups import DeleteGroupsRequest
from flowlog.protocol.messages.delete_records import DeleteRecordsRequest
from flowlog.protocol.messages.delete_topics import DeleteTopicsRequest
from flowlog.protocol.messages.describe_configs import DescribeConfigsRequest
from flowlog.protocol.messages.describe_groups import DescribeGroupsRequest
from flowlog.protocol.messages.find_coordinator import FindCoordinatorRequest
from flowlog.protocol.messages.incremental_alter_configs import IncrementalAlterConfigsRequest
from flowlog.protocol.messages.list_groups import ListGroupsRequest
from flowlog.protocol.messages.offset_fetch import OffsetFetchRequest

OFFSET_FETCH_KEY: Final = 9
FIND_COORDINATOR_KEY: Final = 10
DESCRIBE_GROUPS_KEY: Final = 15
LIST_GROUPS_KEY: Final = 16
CREATE_TOPICS_KEY: Final = 19
DELETE_TOPICS_KEY: Final = 20
DELETE_RECORDS_KEY: Final = 21
DESCRIBE_CONFIGS_KEY: Final = 32
CREATE_PARTITIONS_KEY: Final = 37
DELETE_GROUPS_KEY: Final = 42
INCREMENTAL_ALTER_CONFIGS_KEY: Final = 44

RESOURCE_TOPIC: Final = 2
RESOURCE_BROKER: Final = 4
CONFIG_SET: Final = 0
CONFIG_DELETE: Final = 1
CONFIG_APPEND: Final = 2
CONFIG_SUBTRACT: Final = 3


@attrs.frozen
class NewTopic:
    name: str
    num_partitions: int = 1
    replication_factor: int = 1
    configs: Mapping[str, str] = attrs.field(factory=dict)


@attrs.frozen
class TopicDescription:
    name: str
    partitions: tuple[PartitionInfo, ...]
    is_internal: bool = False


@attrs.frozen
class ConfigResource:
    resource_type: int
    name: str

    @classmethod
    def topic(cls, name: str) -> ConfigResource:
        return cls(RESOURCE_TOPIC, name)

    @classmethod
    def broker(cls, node_id: int) -> ConfigResource:
        return cls(RESOURCE_BROKER, str(node_id))


@attrs.frozen
class ConfigEntry:
    name: str
    value: str | None
    read_only: bool
    source: int
    is_sensitive: bool


@attrs.frozen
class GroupListing:
    group_id: str
    protocol_type: str
    state: str = ""


@attrs.frozen
class MemberDescription:
    member_id: str
    group_instance_id: str | None
    client_id: str
    client_host: str
    assignment: bytes


@attrs.frozen
class GroupDescription:
    group_id: str
    state: str
    protocol_type: str
    protocol: str
    members: tuple[MemberDescription, ...]


class Admin:
    def __init__(self, bootstrap_servers: str | list[str], **options: Any) -> None:
        self.config = build_config(AdminConfig, options)
        self._bootstrap_servers = bootstrap_servers
        self._nursery_manager: Any = None
        self._nursery: trio.Nursery | None = None
        self._cluster: Cluster | None = None

    async def __aenter__(self) -> Admin:
        self._nursery_manager = trio.open_nursery()
        self._nursery = nursery = await self._nursery_manager.__aenter__()
        self._cluster = Cluster(self._bootstrap_servers, self.config, nursery)
        try:
            await self._cluster.with_retries(self._cluster.any_connection, what="bootstrap")
        except BaseException:
            await self.aclose()
            raise
        return self

    async def __aexit__(self, *exc_info: Any) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        if self._cluster is None:
            return
        cluster, self._cluster = self._cluster, None
        cluster.close()
        assert self._nursery is not None
        self._nursery.cancel_scope.cancel()
        await self._nursery_manager.__aexit__(None, None, None)

    @property
    def cluster(self) -> Cluster:
        if self._cluster is None:
            raise ClientClosedError("use the admin client inside `async with Admin(...)`")
        return self._cluster

    async def _controller(self, api_key: int, body: Any) -> Any:
        async def attempt() -> Any:
            connection = await self.cluster.controller_connection()
            return await connection.request(api_key, body)

        return await self.cluster.with_retries(attempt, what=f"API {api_key}")

    # ---------------------------------------------------------------- topics

    async def create_topics(
        self, topics: Iterable[NewTopic], *, validate_only: bool = False, timeout_ms: int = 30_000
    ) -> None:
        request = CreateTopicsRequest(
            topics=[
                CreateTopicsRequest.CreatableTopic(
                    name=topic.name,
                    num_partitions=topic.num_partitions,
                    replication_factor=topic.replication_factor,
                    configs=[
                        CreateTopicsRequest.CreatableTopicConfig(name=k, value=v)
                        for k, v in topic.configs.items()
                    ],
                )
                for topic in topics
            ],
            timeout_ms=timeout_ms,
            validate_only=validate_only,
        )
        response = await self._controller(CREATE_TOPICS_KEY, request)
        for result in response.topics:
            raise_for_code(result.error_code, f"topic {result.name!r}: {result.error_message or ''}")
        self.cluster.invalidate_metadata()

    async def delete_topics(self, names: Iterable[str], *, timeout_ms: int = 30_000) -> None:
        response = await self._controller(
            DELETE_TOPICS_KEY, DeleteTopicsRequest(topic_names=list(names), timeout_ms=timeout_ms)
        )
        for result in response.responses:
            raise_for_code(result.error_code, f"topic {result.name!r}")
        self.cluster.invalidate_metadata()

    async def list_topics(self) -> set[str]:
        await self.cluster.with_retries(
            lambda: self.cluster.refresh_metadata(all_topics=True), what="Metadata"
        )
        return set(self.cluster.topics)

    async def describe_topics(self, names: Iterable[str]) -> dict[str, TopicDescription]:
        names = list(names)
        self.cluster.invalidate_metadata()
        await self.cluster.with_retries(
            lambda: self.cluster.refresh_metadata(names), what="Metadata"
        )
        result = {}
        for name in names:
            if name not in self.cluster.topics:
                code = self.cluster.topic_errors.get(name, ErrorCode.UNKNOWN_TOPIC_OR_PARTITION)
                raise error_for_code(code, f"topic {name!r}")
            partitions = self.cluster.topics[name]
            result[name] = TopicDescription(name, tuple(partitions[p] for p in sorted(partitions)))
        return result

    async def create_partitions(
        self, new_totals: Mapping[str, int], *, validate_only: bool = False, timeout_ms: int = 30_000
    ) -> None:
        """Grow each topic to the given total partition count."""
        response = await self._controller(CREATE_PARTITIONS_KEY, CreatePartitionsRequest(
            topics=[
                CreatePartitionsRequest.CreatePartitionsTopic(name=name, count=count, assignments=None)
                for name, count in new_totals.items()
            ],
            timeout_ms=timeout_ms,
            validate_only=validate_only,
        ))
        for result in response.results:
            raise_for_code(result.error_code, f"topic {result.name!r}: {result.error_message or ''}")
        self.cluster.invalidate_metadata()

    # ---------------------------------------------------------------- configs

    async def describe_configs(self, resource: ConfigResource) -> dict[str, ConfigEntry]:
        response = await self._controller(DESCRIBE_CONFIGS_KEY, DescribeConfigsRequest(
            resources=[DescribeConfigsRequest.DescribeConfigsResource(
                resource_type=resource.resource_type,
                resource_name=resource.name,
                configuration_keys=None,
            )],
        ))
        entries: dict[str, ConfigEntry] = {}
        for result in response.results:
            raise_for_code(result.error_code, f"{resource}: {result.error_message or ''}")
            for config in result.configs:
                entries[config.name] = ConfigEntry(
                    config.name, config.value, config.read_only, config.config_source,
                    config.is_sensitive,
                )
        return entries

    async def incremental_alter_configs(
        self,
        resource: ConfigResource,
        *,
        set: Mapping[str, str] | None = None,  # noqa: A002 - mirrors Kafka's operation name
        delete: Iterable[str] = (),
        append: Mapping[str, str] | None = None,
        subtract: Mapping[str, str] | None = None,
        validate_only: bool = False,
    ) -> None:
        configs = []
        for operation, values in ((CONFIG_SET, set), (CONFIG_APPEND, append),
                                  (CONFIG_SUBTRACT, subtract)):
            for name, value in (values or {}).items():
                configs.append(IncrementalAlterConfigsRequest.AlterableConfig(
                    name=name, config_operation=operation, value=value
                ))
        for name in delete:
            configs.append(IncrementalAlterConfigsRequest.AlterableConfig(
                name=name, config_operation=CONFIG_DELETE, value=None
            ))
        response = await self._controller(
            INCREMENTAL_ALTER_CONFIGS_KEY,
            IncrementalAlterConfigsRequest(
                resources=[IncrementalAlterConfigsRequest.AlterConfigsResource(
                    resource_type=resource.resource_type, resource_name=resource.name,
                    configs=configs,
                )],
                validate_only=validate_only,
            ),
        )
        for result in response.responses:
            raise_for_code(result.error_code, f"{resource}: {result.error_message or ''}")

    # ---------------------------------------------------------------- groups

    async def list_groups(self) -> list[GroupListing]:
        """Groups on every broker (ListGroups is answered per coordinator)."""
        await self.cluster.with_retries(self.cluster.refresh_metadata, what="Metadata")
        listings: list[GroupListing] = []
        for node_id in sorted(self.cluster.brokers):
            response = await self.cluster.call(node_id, LIST_GROUPS_KEY, ListGroupsRequest())
            raise_for_code(response.error_code, f"ListGroups on broker {node_id}")
            listings.extend(
                GroupListing(g.group_id, g.protocol_type, g.group_state) for g in response.groups
            )
        return listings

    async def _group_coordinator(self, group_id: str) -> int:
        async def attempt() -> int:
            connection = await self.cluster.any_connection()
            response = await connection.request(
                FIND_COORDINATOR_KEY, FindCoordinatorRequest(key=group_id, key_type=0)
            )
            raise_for_code(response.error_code, f"FindCoordinator for {group_id!r}")
            return int(response.node_id)

        return await self.cluster.with_retries(attempt, what="FindCoordinator")

    async def describe_groups(self, group_ids: Iterable[str]) -> dict[str, GroupDescription]:
        result = {}
        for group_id in group_ids:
            node_id = await self._group_coordinator(group_id)
            response = await self.cluster.call(
                node_id, DESCRIBE_GROUPS_KEY, DescribeGroupsRequest(groups=[group_id])
            )
            for group in response.groups:
                raise_for_code(group.error_code, f"group {group.group_id!r}")
                result[group.group_id] = GroupDescription(
                    group.group_id, group.group_state, group.protocol_type, group.protocol_data,
                    tuple(
                        MemberDescription(m.member_id, m.group_instance_id, m.client_id,
                                          m.client_host, bytes(m.member_assignment))
                        for m in group.members
                    ),
                )
        return result

    async def delete_groups(self, group_ids: Iterable[str]) -> None:
        for group_id in group_ids:
            node_id = await self._group_coordinator(group_id)
            response = await self.cluster.call(
                node_id, DELETE_GROUPS_KEY, DeleteGroupsRequest(groups_names=[group_id])
            )
            for result in response.results:
                raise_for_code(result.error_code, f"group {result.group_id!r}")

    async def list_group_offsets(self, group_id: str) -> dict[TopicPartition, OffsetAndMetadata]:
        node_id = await self._group_coordinator(group_id)
        response = await self.cluster.call(
            node_id, OFFSET_FETCH_KEY, OffsetFetchRequest(group_id=group_id, topics=None)
        )
        raise_for_code(response.error_code, f"group {group_id!r}")
        offsets = {}
        for topic in response.topics:
            for partition in topic.partitions:
                raise_for_code(partition.error_code, f"group {group_id!r}")
                if partition.committed_offset >= 0:
                    offsets[TopicPartition(topic.name, partition.partition_index)] = (
                        OffsetAndMetadata(partition.committed_offset, partition.metadata or "")
                    )
        return offsets

    # ---------------------------------------------------------------- offsets and records

    async def list_offsets(
        self, specs: Mapping[TopicPartition, str | int]
    ) -> dict[TopicPartition, tuple[int, int]]:
        """(offset, timestamp) for 'earliest', 'latest' or a timestamp in ms, per partition."""
        timestamps = {
            tp: EARLIEST_TIMESTAMP if spec == "earliest"
            else LATEST_TIMESTAMP if spec == "latest" else int(spec)
            for tp, spec in specs.items()
        }
        return await list_offsets(self.cluster, timestamps)

    async def delete_records(
        self, before: Mapping[TopicPartition, int], *, timeout_ms: int = 30_000
    ) -> dict[TopicPartition, int]:
        """Delete records below each offset (-1 = the high watermark); returns low watermarks."""
        by_leader: dict[int, dict[TopicPartition, int]] = {}
        for tp, offset in before.items():
            leader = await self.cluster.wait_leader(tp)
            by_leader.setdefault(leader, {})[tp] = offset
        low_watermarks: dict[TopicPartition, int] = {}
        for leader, wanted in by_leader.items():
            topics: dict[str, list[Any]] = {}
            for tp, offset in wanted.items():
                topics.setdefault(tp.topic, []).append(DeleteRecordsRequest.DeleteRecordsPartition(
                    partition_index=tp.partition, offset=offset
                ))
            response = await self.cluster.call(leader, DELETE_RECORDS_KEY, DeleteRecordsRequest(
                topics=[DeleteRecordsRequest.DeleteRecordsTopic(name=n, partitions=ps)
                        for n, ps in topics.items()],
                timeout_ms=timeout_ms,
            ))
            for topic in response.topics:
                for partition in topic.partitions:
                    tp = TopicPartition(topic.name, partition.partition_index)
                    if partition.error_code != ErrorCode.NONE:
                        raise error_for_code(partition.error_code, str(tp))
                    low_watermarks[tp] = partition.low_watermark
        return low_watermarks

