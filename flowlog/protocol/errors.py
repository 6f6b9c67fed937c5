"""Kafka error codes, and the exceptions of the codec and of request handlers.

Codes and names follow Kafka; descriptions are our own words. `retriable`
says whether a client may simply retry the same request later.
"""

from __future__ import annotations

import enum


class ErrorCode(enum.IntEnum):
    """Every Kafka error code by Kafka's name. `message` and `retriable` come from _DETAILS."""

    UNKNOWN_SERVER_ERROR = -1
    NONE = 0
    OFFSET_OUT_OF_RANGE = 1
    CORRUPT_MESSAGE = 2
    UNKNOWN_TOPIC_OR_PARTITION = 3
    INVALID_FETCH_SIZE = 4
    LEADER_NOT_AVAILABLE = 5
    NOT_LEADER_OR_FOLLOWER = 6
    REQUEST_TIMED_OUT = 7
    BROKER_NOT_AVAILABLE = 8
    REPLICA_NOT_AVAILABLE = 9
    MESSAGE_TOO_LARGE = 10
    STALE_CONTROLLER_EPOCH = 11
    OFFSET_METADATA_TOO_LARGE = 12
    NETWORK_EXCEPTION = 13
    COORDINATOR_LOAD_IN_PROGRESS = 14
    COORDINATOR_NOT_AVAILABLE = 15
    NOT_COORDINATOR = 16
    INVALID_TOPIC_EXCEPTION = 17
    RECORD_LIST_TOO_LARGE = 18
    NOT_ENOUGH_REPLICAS = 19
    NOT_ENOUGH_REPLICAS_AFTER_APPEND = 20
    INVALID_REQUIRED_ACKS = 21
    ILLEGAL_GENERATION = 22
    INCONSISTENT_GROUP_PROTOCOL = 23
    INVALID_GROUP_ID = 24
    UNKNOWN_MEMBER_ID = 25
    INVALID_SESSION_TIMEOUT = 26
    REBALANCE_IN_PROGRESS = 27
    INVALID_COMMIT_OFFSET_SIZE = 28
    TOPIC_AUTHORIZATION_FAILED = 29
    GROUP_AUTHORIZATION_FAILED = 30
    CLUSTER_AUTHORIZATION_FAILED = 31
    INVALID_TIMESTAMP = 32
    UNSUPPORTED_SASL_MECHANISM = 33
    ILLEGAL_SASL_STATE = 34
    UNSUPPORTED_VERSION = 35
    TOPIC_ALREADY_EXISTS = 36
    INVALID_PARTITIONS = 37
    INVALID_REPLICATION_FACTOR = 38
    INVALID_REPLICA_ASSIGNMENT = 39
    INVALID_CONFIG = 40
    NOT_CONTROLLER = 41
    INVALID_REQUEST = 42
    UNSUPPORTED_FOR_MESSAGE_FORMAT = 43
    POLICY_VIOLATION = 44
    OUT_OF_ORDER_SEQUENCE_NUMBER = 45
    DUPLICATE_SEQUENCE_NUMBER = 46
    INVALID_PRODUCER_EPOCH = 47
    INVALID_TXN_STATE = 48
    INVALID_PRODUCER_ID_MAPPING = 49
    INVALID_TRANSACTION_TIMEOUT = 50
    CONCURRENT_TRANSACTIONS = 51
    TRANSACTION_COORDINATOR_FENCED = 52
    TRANSACTIONAL_ID_AUTHORIZATION_FAILED = 53
    SECURITY_DISABLED = 54
    OPERATION_NOT_ATTEMPTED = 55
    KAFKA_STORAGE_ERROR = 56
    LOG_DIR_NOT_FOUND = 57
    SASL_AUTHENTICATION_FAILED = 58
    UNKNOWN_PRODUCER_ID = 59
    REASSIGNMENT_IN_PROGRESS = 60
    DELEGATION_TOKEN_AUTH_DISABLED = 61
    DELEGATION_TOKEN_NOT_FOUND = 62
    DELEGATION_TOKEN_OWNER_MISMATCH = 63
    DELEGATION_TOKEN_REQUEST_NOT_ALLOWED = 64
    DELEGATION_TOKEN_AUTHORIZATION_FAILED = 65
    DELEGATION_TOKEN_EXPIRED = 66
    INVALID_PRINCIPAL_TYPE = 67
    NON_EMPTY_GROUP = 68
    GROUP_ID_NOT_FOUND = 69
    FETCH_SESSION_ID_NOT_FOUND = 70
    INVALID_FETCH_SESSION_EPOCH = 71
    LISTENER_NOT_FOUND = 72
    TOPIC_DELETION_DISABLED = 73
    FENCED_LEADER_EPOCH = 74
    UNKNOWN_LEADER_EPOCH = 75
    UNSUPPORTED_COMPRESSION_TYPE = 76
    STALE_BROKER_EPOCH = 77
    OFFSET_NOT_AVAILABLE = 78
    MEMBER_ID_REQUIRED = 79
    PREFERRED_LEADER_NOT_AVAILABLE = 80
    GROUP_MAX_SIZE_REACHED = 81
    FENCED_INSTANCE_ID = 82
    ELIGIBLE_LEADERS_NOT_AVAILABLE = 83
    ELECTION_NOT_NEEDED = 84
    NO_REASSIGNMENT_IN_PROGRESS = 85
    GROUP_SUBSCRIBED_TO_TOPIC = 86
    INVALID_RECORD = 87
    UNSTABLE_OFFSET_COMMIT = 88
    THROTTLING_QUOTA_EXCEEDED = 89
    PRODUCER_FENCED = 90
    RESOURCE_NOT_FOUND = 91
    DUPLICATE_RESOURCE = 92
    UNACCEPTABLE_CREDENTIAL = 93
    INCONSISTENT_VOTER_SET = 94
    INVALID_UPDATE_VERSION = 95
    FEATURE_UPDATE_FAILED = 96
    PRINCIPAL_DESERIALIZATION_FAILURE = 97
    SNAPSHOT_NOT_FOUND = 98
    POSITION_OUT_OF_RANGE = 99
    UNKNOWN_TOPIC_ID = 100
    DUPLICATE_BROKER_REGISTRATION = 101
    BROKER_ID_NOT_REGISTERED = 102
    INCONSISTENT_TOPIC_ID = 103
    INCONSISTENT_CLUSTER_ID = 104
    TRANSACTIONAL_ID_NOT_FOUND = 105
    FETCH_SESSION_TOPIC_ID_ERROR = 106
    INELIGIBLE_REPLICA = 107
    NEW_LEADER_ELECTED = 108
    OFFSET_MOVED_TO_TIERED_STORAGE = 109
    FENCED_MEMBER_EPOCH = 110
    UNRELEASED_INSTANCE_ID = 111
    UNSUPPORTED_ASSIGNOR = 112
    STALE_MEMBER_EPOCH = 113
    MISMATCHED_ENDPOINT_TYPE = 114
    UNSUPPORTED_ENDPOINT_TYPE = 115
    UNKNOWN_CONTROLLER_ID = 116
    UNKNOWN_SUBSCRIPTION_ID = 117
    TELEMETRY_TOO_LARGE = 118
    INVALID_REGISTRATION = 119
    TRANSACTION_ABORTABLE = 120
    INVALID_RECORD_STATE = 121
    SHARE_SESSION_NOT_FOUND = 122
    INVALID_SHARE_SESSION_EPOCH = 123
    FENCED_STATE_EPOCH = 124
    INVALID_VOTER_KEY = 125
    DUPLICATE_VOTER = 126
    VOTER_NOT_FOUND = 127

    @property
    def retriable(self) -> bool:
        return self in _RETRIABLE

    @property
    def message(self) -> str:
        return _MESSAGES.get(self, self.name.lower().replace("_", " "))


# Codes after which retrying the same request may succeed (Kafka's RetriableException family).
_RETRIABLE = frozenset(
    {
        ErrorCode.CORRUPT_MESSAGE,
        ErrorCode.UNKNOWN_TOPIC_OR_PARTITION,
        ErrorCode.LEADER_NOT_AVAILABLE,
        ErrorCode.NOT_LEADER_OR_FOLLOWER,
        ErrorCode.REQUEST_TIMED_OUT,
        ErrorCode.REPLICA_NOT_AVAILABLE,
        ErrorCode.NETWORK_EXCEPTION,
        ErrorCode.COORDINATOR_LOAD_IN_PROGRESS,
        ErrorCode.COORDINATOR_NOT_AVAILABLE,
        ErrorCode.NOT_COORDINATOR,
        ErrorCode.NOT_ENOUGH_REPLICAS,
        ErrorCode.NOT_ENOUGH_REPLICAS_AFTER_APPEND,
        ErrorCode.NOT_CONTROLLER,
        ErrorCode.CONCURRENT_TRANSACTIONS,
        ErrorCode.KAFKA_STORAGE_ERROR,
        ErrorCode.FETCH_SESSION_ID_NOT_FOUND,
        ErrorCode.INVALID_FETCH_SESSION_EPOCH,
        ErrorCode.LISTENER_NOT_FOUND,
        ErrorCode.FENCED_LEADER_EPOCH,
        ErrorCode.UNKNOWN_LEADER_EPOCH,
        ErrorCode.OFFSET_NOT_AVAILABLE,
        ErrorCode.PREFERRED_LEADER_NOT_AVAILABLE,
        ErrorCode.ELIGIBLE_LEADERS_NOT_AVAILABLE,
        ErrorCode.ELECTION_NOT_NEEDED,
        ErrorCode.UNSTABLE_OFFSET_COMMIT,
        ErrorCode.THROTTLING_QUOTA_EXCEEDED,
        ErrorCode.UNKNOWN_TOPIC_ID,
        ErrorCode.INCONSISTENT_TOPIC_ID,
        ErrorCode.FETCH_SESSION_TOPIC_ID_ERROR,
        ErrorCode.SHARE_SESSION_NOT_FOUND,
        ErrorCode.INVALID_SHARE_SESSION_EPOCH,
    }
)

# Short descriptions in our own words; codes not listed read as their lower-cased name.
_MESSAGES: dict[ErrorCode, str] = {
    ErrorCode.UNKNOWN_SERVER_ERROR: "the broker failed in a way it cannot describe",
    ErrorCode.NONE: "no error",
    ErrorCode.OFFSET_OUT_OF_RANGE: "the requested offset is outside the partition's log",
    ErrorCode.CORRUPT_MESSAGE: "a record batch failed its CRC check or is malformed",
    ErrorCode.UNKNOWN_TOPIC_OR_PARTITION: "this broker does not host that topic or partition",
    ErrorCode.INVALID_FETCH_SIZE: "the requested fetch size is invalid",
    ErrorCode.LEADER_NOT_AVAILABLE: "the partition has no leader right now (election under way)",
    ErrorCode.NOT_LEADER_OR_FOLLOWER: "this broker is not a replica of that partition's leader",
    ErrorCode.REQUEST_TIMED_OUT: "the request did not complete within its timeout",
    ErrorCode.BROKER_NOT_AVAILABLE: "the broker is not available",
    ErrorCode.REPLICA_NOT_AVAILABLE: "the replica is not available on this broker",
    ErrorCode.MESSAGE_TOO_LARGE: "a record batch is larger than the topic allows",
    ErrorCode.OFFSET_METADATA_TOO_LARGE: "the committed offset metadata string is too long",
    ErrorCode.NETWORK_EXCEPTION: "the connection broke before a response arrived",
    ErrorCode.COORDINATOR_LOAD_IN_PROGRESS: "the coordinator is still loading its state",
    ErrorCode.COORDINATOR_NOT_AVAILABLE: "the coordinator is not available",
    ErrorCode.NOT_COORDINATOR: "this broker is not the coordinator for that key",
    ErrorCode.INVALID_TOPIC_EXCEPTION: "the topic name is invalid or the topic is internal",
    ErrorCode.RECORD_LIST_TOO_LARGE: "the batch is larger than the segment size",
    ErrorCode.NOT_ENOUGH_REPLICAS: "fewer in-sync replicas than min.insync.replicas",
    ErrorCode.NOT_ENOUGH_REPLICAS_AFTER_APPEND: "written, but too few in-sync replicas acknowledged",
    ErrorCode.INVALID_REQUIRED_ACKS: "acks must be -1, 0 or 1",
    ErrorCode.ILLEGAL_GENERATION: "the group generation is not the current one",
    ErrorCode.INCONSISTENT_GROUP_PROTOCOL: "no protocol that every group member supports",
    ErrorCode.INVALID_GROUP_ID: "the group id is empty or invalid",
    ErrorCode.UNKNOWN_MEMBER_ID: "the member id is not known to the group",
    ErrorCode.INVALID_SESSION_TIMEOUT: "the session timeout is outside the allowed range",
    ErrorCode.REBALANCE_IN_PROGRESS: "the group is rebalancing; rejoin it",
    ErrorCode.INVALID_COMMIT_OFFSET_SIZE: "the offset commit is too large",
    ErrorCode.TOPIC_AUTHORIZATION_FAILED: "not authorized to access the topic",
    ErrorCode.GROUP_AUTHORIZATION_FAILED: "not authorized to access the group",
    ErrorCode.CLUSTER_AUTHORIZATION_FAILED: "not authorized for this cluster action",
    ErrorCode.INVALID_TIMESTAMP: "a record timestamp is outside the accepted range",
    ErrorCode.UNSUPPORTED_SASL_MECHANISM: "the broker does not offer that SASL mechanism",
    ErrorCode.ILLEGAL_SASL_STATE: "that request is not valid in the current SASL state",
    ErrorCode.UNSUPPORTED_VERSION: "the broker does not support that API version",
    ErrorCode.TOPIC_ALREADY_EXISTS: "a topic with that name exists",
    ErrorCode.INVALID_PARTITIONS: "the partition count is invalid",
    ErrorCode.INVALID_REPLICATION_FACTOR: "the replication factor is invalid",
    ErrorCode.INVALID_REPLICA_ASSIGNMENT: "the replica assignment is invalid",
    ErrorCode.INVALID_CONFIG: "a configuration value is invalid",
    ErrorCode.NOT_CONTROLLER: "this broker is not the active controller",
    ErrorCode.INVALID_REQUEST: "the request is malformed or violates the protocol",
    ErrorCode.POLICY_VIOLATION: "the request violates a configured policy",
    ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER: "the producer sequence number skipped ahead",
    ErrorCode.DUPLICATE_SEQUENCE_NUMBER: "the producer sent a duplicate sequence number",
    ErrorCode.INVALID_PRODUCER_EPOCH: "the producer epoch is older than the current one",
    ErrorCode.INVALID_TXN_STATE: "the operation is not valid in the transaction's state",
    ErrorCode.INVALID_PRODUCER_ID_MAPPING: "the producer id does not match the transactional id",
    ErrorCode.INVALID_TRANSACTION_TIMEOUT: "the transaction timeout exceeds the broker's maximum",
    ErrorCode.CONCURRENT_TRANSACTIONS: "another transaction operation is still completing",
    ErrorCode.TRANSACTION_COORDINATOR_FENCED: "a newer transaction coordinator took over",
    ErrorCode.SASL_AUTHENTICATION_FAILED: "SASL authentication failed",
    ErrorCode.UNKNOWN_PRODUCER_ID: "the broker has no state for that producer id",
    ErrorCode.NON_EMPTY_GROUP: "the group still has members",
    ErrorCode.GROUP_ID_NOT_FOUND: "no group with that id",
    ErrorCode.FETCH_SESSION_ID_NOT_FOUND: "the fetch session is unknown to this broker",
    ErrorCode.INVALID_FETCH_SESSION_EPOCH: "the fetch session epoch is wrong",
    ErrorCode.FENCED_LEADER_EPOCH: "the request's leader epoch is older than the broker's",
    ErrorCode.UNKNOWN_LEADER_EPOCH: "the request's leader epoch is newer than the broker's",
    ErrorCode.UNSUPPORTED_COMPRESSION_TYPE: "the compression type needs a newer request version",
    ErrorCode.OFFSET_NOT_AVAILABLE: "the leader's high watermark is not yet known",
    ErrorCode.MEMBER_ID_REQUIRED: "rejoin with the member id in this response",
    ErrorCode.GROUP_MAX_SIZE_REACHED: "the group is full",
    ErrorCode.FENCED_INSTANCE_ID: "a newer member took this static instance id",
    ErrorCode.INVALID_RECORD: "a record failed validation",
    ErrorCode.UNSTABLE_OFFSET_COMMIT: "transactional offsets for the partition are pending",
    ErrorCode.THROTTLING_QUOTA_EXCEEDED: "a quota was exceeded; retry later",
    ErrorCode.PRODUCER_FENCED: "a newer producer with the same transactional id exists",
    ErrorCode.UNKNOWN_TOPIC_ID: "this broker knows no topic with that id",
    ErrorCode.INCONSISTENT_TOPIC_ID: "the topic id does not match the topic name",
    ErrorCode.TRANSACTION_ABORTABLE: "the transaction must be aborted",
}


class KafkaProtocolError(Exception):
    """Raised by a request handler to answer with `code`; `message` is for logs and clients."""

    def __init__(self, code: ErrorCode, message: str | None = None) -> None:
        self.code = ErrorCode(code)
        self.message = message if message is not None else self.code.message
        super().__init__(f"{self.code.name} ({int(self.code)}): {self.message}")


class DecodeError(ValueError):
    """Bytes from the peer do not form a valid message (truncated, bad length, bad UTF-8)."""


class EncodeError(ValueError):
    """A local value cannot be encoded (wrong type, out of range, null where not allowed)."""


class UnsupportedVersionError(ValueError):
    """The API version is not declared, or a set field does not exist in that version."""
