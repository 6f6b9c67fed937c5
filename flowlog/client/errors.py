"""One exception hierarchy for the client.

    KafkaError                      everything the client raises
      BrokerResponseError          the broker answered with an error code (`.code`)
        UnknownTopicError, TopicAlreadyExistsError, ... one class per code a user can cause
      KafkaConnectionError         the connection failed or broke (retriable)
      KafkaTimeoutError            a local deadline passed (retriable)
      UnsupportedApiError          the broker lacks an API version we need
      ClientClosedError            the client was used after close
      NoOffsetForPartitionError    auto_offset_reset="none" and no position is known
      ConfigurationError           an invalid option

`retriable` comes from ErrorCode.retriable for broker errors. Codes without a
dedicated class raise BrokerResponseError itself (check `.code`).
"""

from __future__ import annotations

from flowlog.protocol.errors import ErrorCode


class KafkaError(Exception):
    """Base of every client error. `retriable`: the same call may succeed later."""

    retriable: bool = False


class ConfigurationError(KafkaError, ValueError):
    pass


class KafkaConnectionError(KafkaError):
    retriable = True


class KafkaTimeoutError(KafkaError):
    retriable = True


class UnsupportedApiError(KafkaError):
    """The broker does not offer an API (or any version of it we speak)."""


class ClientClosedError(KafkaError):
    pass


class NoOffsetForPartitionError(KafkaError):
    pass


class IllegalStateError(KafkaError):
    pass


class BrokerResponseError(KafkaError):
    """The broker answered with `code`; subclasses name the codes users cause."""

    code: ErrorCode = ErrorCode.UNKNOWN_SERVER_ERROR

    def __init__(self, message: str | None = None, *, code: ErrorCode | None = None) -> None:
        if code is not None:
            self.code = code
        self.retriable = self.code.retriable
        text = message or self.code.message
        super().__init__(f"{self.code.name} ({int(self.code)}): {text}")


def _error(name: str, code: ErrorCode) -> type[BrokerResponseError]:
    return type(name, (BrokerResponseError,), {"code": code, "__module__": __name__})


# One class per code that a user's input or a cluster event can cause.
OffsetOutOfRangeError = _error("OffsetOutOfRangeError", ErrorCode.OFFSET_OUT_OF_RANGE)
CorruptMessageError = _error("CorruptMessageError", ErrorCode.CORRUPT_MESSAGE)
UnknownTopicError = _error("UnknownTopicError", ErrorCode.UNKNOWN_TOPIC_OR_PARTITION)
LeaderNotAvailableError = _error("LeaderNotAvailableError", ErrorCode.LEADER_NOT_AVAILABLE)
NotLeaderError = _error("NotLeaderError", ErrorCode.NOT_LEADER_OR_FOLLOWER)
RequestTimedOutError = _error("RequestTimedOutError", ErrorCode.REQUEST_TIMED_OUT)
MessageTooLargeError = _error("MessageTooLargeError", ErrorCode.MESSAGE_TOO_LARGE)
CoordinatorLoadInProgressError = _error(
    "CoordinatorLoadInProgressError", ErrorCode.COORDINATOR_LOAD_IN_PROGRESS
)
CoordinatorNotAvailableError = _error(
    "CoordinatorNotAvailableError", ErrorCode.COORDINATOR_NOT_AVAILABLE
)
NotCoordinatorError = _error("NotCoordinatorError", ErrorCode.NOT_COORDINATOR)
InvalidTopicError = _error("InvalidTopicError", ErrorCode.INVALID_TOPIC_EXCEPTION)
RecordListTooLargeError = _error("RecordListTooLargeError", ErrorCode.RECORD_LIST_TOO_LARGE)
NotEnoughReplicasError = _error("NotEnoughReplicasError", ErrorCode.NOT_ENOUGH_REPLICAS)
NotEnoughReplicasAfterAppendError = _error(
    "NotEnoughReplicasAfterAppendError", ErrorCode.NOT_ENOUGH_REPLICAS_AFTER_APPEND
)
InvalidRequiredAcksError = _error("InvalidRequiredAcksError", ErrorCode.INVALID_REQUIRED_ACKS)
IllegalGenerationError = _error("IllegalGenerationError", ErrorCode.ILLEGAL_GENERATION)
InconsistentGroupProtocolError = _error(
    "InconsistentGroupProtocolError", ErrorCode.INCONSISTENT_GROUP_PROTOCOL
)
InvalidGroupIdError = _error("InvalidGroupIdError", ErrorCode.INVALID_GROUP_ID)
UnknownMemberIdError = _error("UnknownMemberIdError", ErrorCode.UNKNOWN_MEMBER_ID)
InvalidSessionTimeoutError = _error("InvalidSessionTimeoutError", ErrorCode.INVALID_SESSION_TIMEOUT)
RebalanceInProgressError = _error("RebalanceInProgressError", ErrorCode.REBALANCE_IN_PROGRESS)
OffsetMetadataTooLargeError = _error(
    "OffsetMetadataTooLargeError", ErrorCode.OFFSET_METADATA_TOO_LARGE
)
TopicAuthorizationFailedError = _error(
    "TopicAuthorizationFailedError", ErrorCode.TOPIC_AUTHORIZATION_FAILED
)
GroupAuthorizationFailedError = _error(
    "GroupAuthorizationFailedError", ErrorCode.GROUP_AUTHORIZATION_FAILED
)
ClusterAuthorizationFailedError = _error(
    "ClusterAuthorizationFailedError", ErrorCode.CLUSTER_AUTHORIZATION_FAILED
)
InvalidTimestampError = _error("InvalidTimestampError", ErrorCode.INVALID_TIMESTAMP)
BrokerUnsupportedVersionError = _error(
    "BrokerUnsupportedVersionError", ErrorCode.UNSUPPORTED_VERSION
)
TopicAlreadyExistsError = _error("TopicAlreadyExistsError", ErrorCode.TOPIC_ALREADY_EXISTS)
InvalidPartitionsError = _error("InvalidPartitionsError", ErrorCode.INVALID_PARTITIONS)
InvalidReplicationFactorError = _error(
    "InvalidReplicationFactorError", ErrorCode.INVALID_REPLICATION_FACTOR
)
InvalidReplicaAssignmentError = _error(
    "InvalidReplicaAssignmentError", ErrorCode.INVALID_REPLICA_ASSIGNMENT
)
InvalidConfigError = _error("InvalidConfigError", ErrorCode.INVALID_CONFIG)
NotControllerError = _error("NotControllerError", ErrorCode.NOT_CONTROLLER)
InvalidRequestError = _error("InvalidRequestError", ErrorCode.INVALID_REQUEST)
PolicyViolationError = _error("PolicyViolationError", ErrorCode.POLICY_VIOLATION)
OutOfOrderSequenceError = _error(
    "OutOfOrderSequenceError", ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER
)
DuplicateSequenceError = _error("DuplicateSequenceError", ErrorCode.DUPLICATE_SEQUENCE_NUMBER)
InvalidProducerEpochError = _error("InvalidProducerEpochError", ErrorCode.INVALID_PRODUCER_EPOCH)
UnknownProducerIdError = _error("UnknownProducerIdError", ErrorCode.UNKNOWN_PRODUCER_ID)
NonEmptyGroupError = _error("NonEmptyGroupError", ErrorCode.NON_EMPTY_GROUP)
GroupIdNotFoundError = _error("GroupIdNotFoundError", ErrorCode.GROUP_ID_NOT_FOUND)
TopicDeletionDisabledError = _error(
    "TopicDeletionDisabledError", ErrorCode.TOPIC_DELETION_DISABLED
)
FencedLeaderEpochError = _error("FencedLeaderEpochError", ErrorCode.FENCED_LEADER_EPOCH)
UnknownLeaderEpochError = _error("UnknownLeaderEpochError", ErrorCode.UNKNOWN_LEADER_EPOCH)
UnsupportedCompressionTypeError = _error(
    "UnsupportedCompressionTypeError", ErrorCode.UNSUPPORTED_COMPRESSION_TYPE
)
OffsetNotAvailableError = _error("OffsetNotAvailableError", ErrorCode.OFFSET_NOT_AVAILABLE)
MemberIdRequiredError = _error("MemberIdRequiredError", ErrorCode.MEMBER_ID_REQUIRED)
GroupMaxSizeReachedError = _error("GroupMaxSizeReachedError", ErrorCode.GROUP_MAX_SIZE_REACHED)
FencedInstanceIdError = _error("FencedInstanceIdError", ErrorCode.FENCED_INSTANCE_ID)
GroupSubscribedToTopicError = _error(
    "GroupSubscribedToTopicError", ErrorCode.GROUP_SUBSCRIBED_TO_TOPIC
)
InvalidRecordError = _error("InvalidRecordError", ErrorCode.INVALID_RECORD)
UnstableOffsetCommitError = _error("UnstableOffsetCommitError", ErrorCode.UNSTABLE_OFFSET_COMMIT)
ThrottlingQuotaExceededError = _error(
    "ThrottlingQuotaExceededError", ErrorCode.THROTTLING_QUOTA_EXCEEDED
)
ProducerFencedError = _error("ProducerFencedError", ErrorCode.PRODUCER_FENCED)
ResourceNotFoundError = _error("ResourceNotFoundError", ErrorCode.RESOURCE_NOT_FOUND)
UnknownTopicIdError = _error("UnknownTopicIdError", ErrorCode.UNKNOWN_TOPIC_ID)
KafkaStorageError = _error("KafkaStorageError", ErrorCode.KAFKA_STORAGE_ERROR)
UnknownServerError = _error("UnknownServerError", ErrorCode.UNKNOWN_SERVER_ERROR)

ERROR_CLASSES: dict[ErrorCode, type[BrokerResponseError]] = {
    cls.code: cls
    for cls in [value for value in list(globals().values()) if isinstance(value, type)]
    if issubclass(cls, BrokerResponseError) and cls is not BrokerResponseError
}


def error_for_code(code: int, message: str | None = None) -> BrokerResponseError:
    """The exception for a broker error code (`code` must not be NONE)."""
    error_code = _as_error_code(code)
    assert error_code is not ErrorCode.NONE, "error_for_code(NONE)"
    error_class = ERROR_CLASSES.get(error_code)
    if error_class is None:
        return BrokerResponseError(message, code=error_code)
    return error_class(message)


def raise_for_code(code: int, message: str | None = None) -> None:
    """Raise the exception for `code`, unless it is NONE."""
    if code != ErrorCode.NONE:
        raise error_for_code(code, message)


def _as_error_code(code: int) -> ErrorCode:
    try:
        return ErrorCode(code)
    except ValueError:
        return ErrorCode.UNKNOWN_SERVER_ERROR


def is_retriable(error: BaseException) -> bool:
    return isinstance(error, KafkaError) and error.retriable
