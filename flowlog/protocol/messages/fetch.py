"""Fetch (key 1): read record batches; also the follower replication path.

Capped at v12: v13+ name topics by id, which needs topic ids end to end.
"""

from flowlog.protocol.schema import (
    INT8,
    INT16,
    INT32,
    INT64,
    RECORDS,
    STRING,
    Api,
    Array,
    Field,
    Struct,
)

API = Api(
    key=1,
    name="Fetch",
    valid_versions="4-12",
    flexible_versions="12+",
    request=Struct("FetchRequest", [
        Field("cluster_id", STRING, versions="12+", nullable="12+", tag=0,
              tagged_versions="12+", default=None, ignorable=True),
        Field("replica_id", INT32, versions="0-14", default=-1),
        Field("max_wait_ms", INT32),
        Field("min_bytes", INT32),
        Field("max_bytes", INT32, versions="3+", default=0x7FFFFFFF, ignorable=True),
        Field("isolation_level", INT8, versions="4+", ignorable=True),
        Field("session_id", INT32, versions="7+", ignorable=True),
        Field("session_epoch", INT32, versions="7+", default=-1, ignorable=True),
        Field("topics", Array(Struct("FetchTopic", [
            Field("topic", STRING, versions="0-12", ignorable=True),
            Field("partitions", Array(Struct("FetchPartition", [
                Field("partition", INT32),
                Field("current_leader_epoch", INT32, versions="9+", default=-1, ignorable=True),
                Field("fetch_offset", INT64),
                Field("last_fetched_epoch", INT32, versions="12+", default=-1),
                Field("log_start_offset", INT64, versions="5+", default=-1, ignorable=True),
                Field("partition_max_bytes", INT32),
            ]))),
        ]))),
        Field("forgotten_topics_data", Array(Struct("ForgottenTopic", [
            Field("topic", STRING, versions="7-12", ignorable=True),
            Field("partitions", Array(INT32), versions="7+"),
        ])), versions="7+"),
        Field("rack_id", STRING, versions="11+", ignorable=True),
    ]),
    response=Struct("FetchResponse", [
        Field("throttle_time_ms", INT32, versions="1+", ignorable=True),
        Field("error_code", INT16, versions="7+", ignorable=True),
        Field("session_id", INT32, versions="7+"),
        Field("responses", Array(Struct("FetchableTopicResponse", [
            Field("topic", STRING, versions="0-12", ignorable=True),
            Field("partitions", Array(Struct("PartitionData", [
                Field("partition_index", INT32),
                Field("error_code", INT16),
                Field("high_watermark", INT64),
                Field("last_stable_offset", INT64, versions="4+", default=-1, ignorable=True),
                Field("log_start_offset", INT64, versions="5+", default=-1, ignorable=True),
                Field("diverging_epoch", Struct("EpochEndOffset", [
                    Field("epoch", INT32, versions="12+", default=-1),
                    Field("end_offset", INT64, versions="12+", default=-1),
                ]), versions="12+", tag=0, tagged_versions="12+"),
                Field("current_leader", Struct("LeaderIdAndEpoch", [
                    Field("leader_id", INT32, versions="12+", default=-1),
                    Field("leader_epoch", INT32, versions="12+", default=-1),
                ]), versions="12+", tag=1, tagged_versions="12+"),
                Field("snapshot_id", Struct("SnapshotId", [
                    Field("end_offset", INT64, default=-1),
                    Field("epoch", INT32, default=-1),
                ]), versions="12+", tag=2, tagged_versions="12+"),
                Field("aborted_transactions", Array(Struct("AbortedTransaction", [
                    Field("producer_id", INT64, versions="4+"),
                    Field("first_offset", INT64, versions="4+"),
                ])), versions="4+", nullable="4+", ignorable=True),
                Field("preferred_read_replica", INT32, versions="11+", default=-1),
                Field("records", RECORDS, nullable="0+"),
            ]))),
        ]))),
    ]),
)
FetchRequest = API.request_type
FetchResponse = API.response_type
