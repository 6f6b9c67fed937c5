"""DescribeQuorum (key 55) v0: the metadata quorum's leader, epoch and voters.

Kafka's `kafka-metadata-quorum describe --status` reads it. Only the metadata
partition (__cluster_metadata-0) exists. Offsets are Raft log indexes.
"""

from flowlog.protocol.schema import INT16, INT32, INT64, STRING, Api, Array, Field, Struct


def _replica_state(name: str) -> Struct:
    return Struct(name, [Field("replica_id", INT32), Field("log_end_offset", INT64)])


API = Api(
    key=55,
    name="DescribeQuorum",
    valid_versions="0",
    flexible_versions="0+",
    request=Struct("DescribeQuorumRequest", [
        Field("topics", Array(Struct("TopicData", [
            Field("topic_name", STRING),
            Field("partitions", Array(Struct("PartitionData", [
                Field("partition_index", INT32),
            ]))),
        ]))),
    ]),
    response=Struct("DescribeQuorumResponse", [
        Field("error_code", INT16),
        Field("topics", Array(Struct("TopicData", [
            Field("topic_name", STRING),
            Field("partitions", Array(Struct("PartitionData", [
                Field("partition_index", INT32),
                Field("error_code", INT16),
                Field("leader_id", INT32),
                Field("leader_epoch", INT32),
                Field("high_watermark", INT64),
                Field("current_voters", Array(_replica_state("VoterState"))),
                Field("observers", Array(_replica_state("ObserverState"))),
            ]))),
        ]))),
    ]),
)
DescribeQuorumRequest = API.request_type
DescribeQuorumResponse = API.response_type
